/**
 * The names of the Redis pub/sub channels of one game (one prefix), seen from one server:
 *
 * - `<prefix>#all`: broadcasts to every channel of every server;
 * - `<prefix>#room#<name>`: broadcasts to a room and `roomSize()` questions, subscribed only by
 *   the servers with local members, so that Redis both filters the traffic and says how many
 *   servers must answer;
 * - `<prefix>#servers`: `sendToServers`, subscribed by every server (`serverCount()` counts them);
 * - `<prefix>#server#<id>`: one server's own channel (`sendToServer`, `roomSize()` answers).
 *
 * The byte forms are kept so that the message hot path recognises a channel without decoding it.
 */
export class RedisChannels {
  /** The channel of the broadcasts to every server. */
  readonly all: string;
  /** The channel every server subscribes to for `sendToServers`. */
  readonly servers: string;
  /** This server's own channel. */
  readonly own: string;
  readonly #allBytes: Buffer;
  readonly #roomPrefix: string;
  readonly #roomPrefixBytes: Buffer;

  constructor(
    readonly prefix: string,
    serverId: string,
  ) {
    this.all = `${prefix}#all`;
    this.#allBytes = Buffer.from(this.all);
    this.servers = `${prefix}#servers`;
    this.own = this.server(serverId);
    this.#roomPrefix = `${prefix}#room#`;
    this.#roomPrefixBytes = Buffer.from(this.#roomPrefix);
  }

  /** The channel carrying the broadcasts to the room `name`. */
  room(name: string): string {
    return this.#roomPrefix + name;
  }

  /** The channel of the server `serverId`. */
  server(serverId: string): string {
    return `${this.prefix}#server#${serverId}`;
  }

  /** Every channel a server with local members in `rooms` subscribes to. */
  wanted(rooms: Iterable<string>): Set<string> {
    const wanted = new Set([this.all, this.servers, this.own]);
    for (const room of rooms) wanted.add(this.#roomPrefix + room);
    return wanted;
  }

  /**
   * Where a broadcast received on `channel` goes: `undefined` for the all-servers channel, the
   * room name for a room channel, `null` for any other channel. Compares bytes, decoding only
   * the room name.
   */
  roomOf(channel: Buffer): string | undefined | null {
    if (channel.equals(this.#allBytes)) return undefined;
    const prefix = this.#roomPrefixBytes;
    if (channel.length > prefix.length && channel.compare(prefix, 0, prefix.length, 0, prefix.length) === 0) {
      return channel.toString("utf8", prefix.length);
    }
    return null;
  }
}
