import type { Logger } from "../logging.js";
import { decode, isPlainObject } from "../protocol/codec.js";
import type { AdapterHost } from "../server/server-adapter.js";
import type { IncomingMessage } from "../types.js";
import { ENVELOPE_HEADER_SIZE, EnvelopeKind, isFrom, numericEnvelope } from "./adapter-envelope.js";
import type { RedisChannels } from "./redis-channels.js";
import type { RedisMessageListener } from "./redis-client.js";
import type { SizeQueries } from "./size-queries.js";

/** A message another server sent with `sendToServers` or `sendToServer`. */
export interface ServerMessage {
  /** The sender's `adapter.serverId`, to answer it with `sendToServer(from, ...)`. */
  readonly from: string;
  /** The message, decoded as a channel's messages are. */
  readonly message: IncomingMessage;
}

/** What the router reads from, and hands to, the adapter that owns it. */
export interface RedisMessageRouterOptions {
  /** This server's id, as text and as the bytes envelopes carry. */
  readonly serverId: string;
  readonly id: Buffer;
  readonly channels: RedisChannels;
  /** The server now; `null` while the adapter is not started, when every message is ignored. */
  readonly host: () => AdapterHost | null;
  /** Where a message that cannot be handled is reported; `null` before the first start. */
  readonly logger: () => Logger | null;
  /** The `roomSize()` questions this server is waiting on. */
  readonly sizeQueries: SizeQueries;
  /** Receives the messages of the other servers (`sendToServers`, `sendToServer`). */
  readonly serverMessage: (message: ServerMessage) => void;
  /** Publishes without waiting (the size answers); a drop is counted by the caller. */
  readonly publish: (channel: string, bytes: Buffer) => boolean;
}

/**
 * The receiving side of the adapter: every message of every subscribed channel goes through
 * {@link listener}, which reads the envelope (see `adapter-envelope.ts`) and
 *
 * - delivers another server's broadcast to the local channels of the channel's room (a server
 *   skips its own, which Redis echoes back);
 * - emits other servers' messages (a server skips its own `sendToServers`, not a message it sent
 *   to its own channel);
 * - answers a `roomSize()` question with the local member count, on the asker's channel (or
 *   directly, when the asker is this server), and collects the answers to its own questions.
 *
 * Anything else (too short, unknown kind, a room question on a non-room channel) is ignored:
 * the channels are shared with every server of the game, maybe of other versions.
 */
export class RedisMessageRouter {
  readonly #options: RedisMessageRouterOptions;

  constructor(options: RedisMessageRouterOptions) {
    this.#options = options;
  }

  /**
   * The subscriber's listener. Never throws: an exception here would reach node-redis's parser,
   * so a message that cannot be handled is logged (error) and dropped.
   */
  readonly listener: RedisMessageListener = (bytes, channel) => {
    try {
      this.#route(bytes, channel);
    } catch (error) {
      this.#options
        .logger()
        ?.error("redis adapter could not handle a message", { channel: channel.toString(), reason: error });
    }
  };

  #route(bytes: Buffer, channel: Buffer): void {
    const { serverId, id, channels, sizeQueries } = this.#options;
    const host = this.#options.host();
    if (host === null || bytes.length < ENVELOPE_HEADER_SIZE) return;
    const kind = bytes[0];
    // The hot path first: a broadcast from another server, framed once for all local channels.
    if (kind === EnvelopeKind.Broadcast) {
      if (isFrom(bytes, id)) return;
      const room = channels.roomOf(channel);
      if (room !== null) host.deliverRemote(bytes.subarray(ENVELOPE_HEADER_SIZE), room);
      return;
    }
    const origin = bytes.toString("latin1", 1, ENVELOPE_HEADER_SIZE);
    const body = bytes.subarray(ENVELOPE_HEADER_SIZE);
    if (kind === EnvelopeKind.ServerMessage) {
      if (origin === serverId && channel.toString() === channels.servers) return;
      const message = decode(body);
      if (!isPlainObject(message)) {
        this.#options.logger()?.warn("dropped a server message that is not a map", { from: origin });
        return;
      }
      this.#options.serverMessage({ from: origin, message });
    } else if (kind === EnvelopeKind.SizeQuery && body.length >= 4) {
      const room = channels.roomOf(channel);
      if (room === null || room === undefined) return;
      const query = body.readUInt32BE(0);
      const count = host.roomMembers(room)?.size ?? 0;
      if (origin === serverId) sizeQueries.answer(query, count);
      else this.#options.publish(channels.server(origin), numericEnvelope(EnvelopeKind.SizeAnswer, id, query, count));
    } else if (kind === EnvelopeKind.SizeAnswer && body.length >= 8) {
      sizeQueries.answer(body.readUInt32BE(0), body.readUInt32BE(4));
    }
  }
}
