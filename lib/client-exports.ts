// What both entry points export: the client side, everything that also runs in a browser. Each
// entry point adds its own ConnectionListener (bound to its connector); lib/index.ts adds the
// server side. Nothing here may import a Node module.

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

// Client side
export { Client } from "./connections/client.js";
export type { ClientOptions, ClientState } from "./connections/client.js";
export type {
  ActionRateLimit,
  ConnectionLimits,
  HeartbeatOptions,
  RateLimitOptions,
} from "./connections/connection-options.js";
export type { ReconnectOptions } from "./connections/reconnect-policy.js";
export type { ConnectionState } from "./connections/connection.js";
export type { SendOptions } from "./connections/outbox.js";
export type { ConnectionListenerApi, ConnectOptions, LocalServer } from "./connections/connection-listener.js";

// Requests
export { DEFAULT_REQUEST_TIMEOUT, RequestError } from "./dispatch/requests.js";
export type { RequestOptions } from "./dispatch/requests.js";

// Scheduling
export { PumpScheduler } from "./scheduling/pump-scheduler.js";

// Validation (Standard Schema: zod, valibot, arktype...)
export { schemaValidation } from "./validation/schema-validation.js";
export type {
  InvalidMessagePolicy,
  NoReplies,
  SchemaValidation,
  SchemaValidationOptions,
} from "./validation/schema-validation.js";
export type { ActionSchema, InferActions, InferInputActions, SchemaMap } from "./validation/schema-map.js";
export type { RepliesFor, SchemasFor } from "./validation/schema-map.js";
export type { MessageValidation } from "./validation/validation-option.js";
export type { ValidationFor } from "./validation/validation-option.js";
export { withReply } from "./validation/with-reply.js";
export type { ReplySchema, SchemaWithReply } from "./validation/with-reply.js";

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
  Received,
  UntypedActions,
} from "./types.js";
export type { ActionsOf, ReplyOf, replyType, RequestResult, WithReply } from "./types.js";
