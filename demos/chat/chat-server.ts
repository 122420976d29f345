// The chat demo's server: every line a client types goes to everyone in its room with the
// sender's name; joins, leaves and room changes are announced. The protocol is the one of repod's
// own chat example (`nickname`, `message` in; `system`, `message`, `players` out), so repod's
// Python chat client can join this server unchanged. Rooms are an addition: a client starts in
// `lobby` and may `join` another.

import { Channel, Server, type ServerOptions } from "../../lib/index.js";

/** What a chat client sends. */
export type ChatClientMessages = {
  /** Introduces the client (first time) or renames it. */
  nickname: { nickname: string };
  /** One line of chat, for everyone in the sender's room. */
  message: { text: string };
  /** Moves the client to another room (created on first join). */
  join: { room: string };
};

/** What the chat server sends. */
export type ChatServerMessages = {
  /** An announcement: someone joined, left, was renamed. */
  system: { text: string };
  /** A line of chat. */
  message: { nickname: string; text: string; room: string };
  /** The names in the receiver's room, sent whenever they change. */
  players: { list: string[]; room: string };
};

/** The room every client starts in. */
export const LOBBY = "lobby";
/** Longest nickname, in characters. */
export const MAX_NICKNAME = 24;
/** Longest line of chat, in characters; longer lines are cut. */
export const MAX_TEXT = 500;

/** The server's side of one chat client. */
export class ChatChannel extends Channel<ChatServer, ChatClientMessages, ChatServerMessages> {
  /** The name shown with this client's lines; `null` until it introduces itself. */
  nickname: string | null = null;
  /** The room this client talks in; `null` until it introduces itself. */
  room: string | null = null;

  Network_nickname(message: { nickname?: unknown }): void {
    const nickname = cleanLine(message.nickname, MAX_NICKNAME);
    if (nickname === "") {
      this.send({ action: "system", text: `A nickname is 1 to ${MAX_NICKNAME} characters` });
      return;
    }
    const previous = this.nickname;
    this.nickname = nickname;
    if (previous === null) this.server.enter(this, LOBBY);
    else this.server.announce(this.room ?? LOBBY, `${previous} is now known as ${nickname}`);
  }

  Network_message(message: { text?: unknown }): void {
    const text = cleanLine(message.text, MAX_TEXT);
    if (text === "") return;
    // repod's clients may talk before they introduce themselves; they get a name then.
    if (this.nickname === null) this.Network_nickname({ nickname: `guest-${this.id}` });
    this.server.say(this, text);
  }

  Network_join(message: { room?: unknown }): void {
    const room = cleanLine(message.room, MAX_NICKNAME).replace(/\s+/g, "-").toLowerCase();
    if (room === "" || room === this.room) return;
    if (this.nickname === null) this.Network_nickname({ nickname: `guest-${this.id}` });
    this.server.enter(this, room);
  }

  override onClose(): void {
    this.server.exit(this);
  }
}

/** Options of a {@link ChatServer}: the library's server options, plus where to print. */
export interface ChatServerOptions extends ServerOptions<ChatChannel> {
  /** Receives one line per event (joins, leaves, every line of chat). Default `console.log`. */
  readonly log?: (line: string) => void;
}

/** The chat server. Start it with `start()` or `launch()`. */
export class ChatServer extends Server<ChatChannel> {
  override channelClass = ChatChannel;
  private readonly log: (line: string) => void;

  constructor(options: ChatServerOptions = {}) {
    const { log = console.log, ...serverOptions } = options;
    super(serverOptions);
    this.log = log;
  }

  /** Puts `channel` in `room`, leaving its previous room, and tells both rooms. */
  enter(channel: ChatChannel, room: string): void {
    const previous = channel.room;
    if (previous !== null) {
      channel.leave(previous);
      this.announce(previous, `${channel.nickname} went to #${room}`);
      this.sendPlayers(previous);
    }
    channel.join(room);
    channel.room = room;
    this.announce(room, `${channel.nickname} joined #${room}`);
    this.sendPlayers(room);
  }

  /** Tells `channel`'s room that it left; the library has already taken it out of the room. */
  exit(channel: ChatChannel): void {
    if (channel.room === null) return;
    this.announce(channel.room, `${channel.nickname} left the chat`);
    this.sendPlayers(channel.room);
  }

  /** Sends one line of chat to everyone in the sender's room, the sender included (its echo). */
  say(channel: ChatChannel, text: string): void {
    const room = channel.room ?? LOBBY;
    this.log(`[#${room}] ${channel.nickname}: ${text}`);
    this.room(room).sendToAll({ action: "message", nickname: channel.nickname, text, room });
  }

  /** Sends an announcement to one room. */
  announce(room: string, text: string): void {
    this.log(`[#${room}] * ${text}`);
    this.room(room).sendToAll({ action: "system", text });
  }

  private sendPlayers(room: string): void {
    const members = [...this.room(room).channels];
    const list = members.map((member) => member.nickname ?? `guest-${member.id}`).sort();
    this.room(room).sendToAll({ action: "players", list, room });
  }
}

/** A value as one line of text: a string, control characters removed, trimmed, at most `max` long. */
function cleanLine(value: unknown, max: number): string {
  if (typeof value !== "string") return "";
  return (
    value
      // eslint-disable-next-line no-control-regex
      .replace(/[\u0000-\u001f\u007f]/g, "")
      .trim()
      .slice(0, max)
  );
}
