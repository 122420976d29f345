// repod-rx/client: the browser entry point. The client side only, over the browser's native
// WebSocket; nothing here (or in anything it imports) may import a Node module. A test bundles
// this file for the browser and fails on any Node import.

export * from "./client-exports.js";
export { ConnectionListener, withConnectionListener } from "./connections/browser-connection-listener.js";
