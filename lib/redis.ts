// repod-rx/redis: scaling out over Redis pub/sub. A separate entry point so that the core
// (`repod-rx`) never loads the Redis client, an optional peer dependency: `npm install redis`.

export { RedisAdapter, redisAdapter } from "./adapters/redis-adapter.js";
export type { RedisAdapterOptions, RoomSizeOptions } from "./adapters/redis-adapter.js";
export type { RedisAdapterState } from "./adapters/redis-connection.js";
export type { ServerMessage } from "./adapters/redis-message-router.js";
export type { RedisClientLike, RedisConnectOptions, RedisMessageListener } from "./adapters/redis-client.js";
