// repod-rx: the Node entry point. Everything public is exported here (the browser entry point,
// lib/browser.ts, exports the client side only).

// The client side, shared with the browser entry point
export * from "./client-exports.js";
export { ConnectionListener, withConnectionListener } from "./connections/node-connection-listener.js";
export type { TlsOptions } from "./transports/transport.js";

// Protocol
export { FrameDecoder } from "./protocol/frame-decoder.js";

// Server side
export { Server } from "./server/server.js";
export type { ChannelClass, ChannelMessage, DispatchMode, ServerOptions } from "./server/server.js";
export type { ChannelData } from "./server/server-options.js";
export type { ChannelIn, ChannelOut, ChannelValidation } from "./server/server-options.js";
export type { AuthContext, Authenticate, ResumeOptions } from "./sessions/session-options.js";
export type { WebSocketOptions } from "./transports/ws-acceptor.js";
export { Channel } from "./connections/channel.js";
export type { AnyChannel, AnyServer, ChannelInit } from "./connections/channel.js";
export { Room } from "./server/room.js";
export type { BroadcastOptions, Except } from "./server/room.js";
export type { AdapterHost, ServerAdapter } from "./server/server-adapter.js";
