// repod-rx: the Node entry point. Everything public is exported here and only here.

// Constants
export {
  DEFAULT_HOST,
  DEFAULT_MAX_PAYLOAD,
  DEFAULT_MAX_QUEUED_BYTES,
  DEFAULT_PORT,
  HEADER_SIZE,
  PING_ACTION,
  PONG_ACTION,
  REFUSED_ACTION,
  REPLY_ACTION,
  REPLY_ID_KEY,
  REQUEST_ID_KEY,
  RESERVED_ACTION_PREFIX,
} from "./constants.js";

// Protocol
export { decode, encode } from "./protocol/codec.js";
export { FrameDecoder } from "./protocol/frame-decoder.js";

// Server side
export { Server } from "./server/server.js";
export type { ChannelClass, ChannelMessage, DispatchMode, ServerOptions } from "./server/server.js";
export type { WebSocketOptions } from "./transports/ws-acceptor.js";
export { Channel } from "./connections/channel.js";
export type { ChannelInit } from "./connections/channel.js";
export { Room } from "./server/room.js";
export type { BroadcastOptions, Except } from "./server/room.js";
export type { AdapterHost, ServerAdapter } from "./server/server-adapter.js";

// Client side
export { Client } from "./connections/client.js";
export type { ClientOptions, ClientState } from "./connections/client.js";
export type { TlsOptions } from "./transports/transport.js";
export type { ConnectionLimits, HeartbeatOptions } from "./connections/connection-options.js";
export type { ReconnectOptions } from "./connections/reconnect-policy.js";
export type { ConnectionState } from "./connections/connection.js";
export { ConnectionListener, withConnectionListener } from "./connections/node-connection-listener.js";
export type { ConnectionListenerApi, ConnectOptions, LocalServer } from "./connections/connection-listener.js";

// Requests
export { DEFAULT_REQUEST_TIMEOUT, RequestError } from "./dispatch/requests.js";
export type { RequestOptions } from "./dispatch/requests.js";

// Scheduling
export { PumpScheduler } from "./scheduling/pump-scheduler.js";

// Errors and logging
export { ConnectionError, ProtocolError, RepodError } from "./errors.js";
export type { RepodErrorCode } from "./errors.js";
export { configureLogging, consoleLogger, silentLogger } from "./logging.js";
export type { Logger, LogLevel } from "./logging.js";

// Types
export type {
  ActionMap,
  Address,
  BuiltInActions,
  IncomingMessage,
  Message,
  NetworkHandlers,
  UntypedActions,
} from "./types.js";
