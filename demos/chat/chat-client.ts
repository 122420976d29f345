// The chat demo's client, without the terminal: it turns typed lines into messages and messages
// into printed lines. `client.ts` wires it to readline; the tests script it directly.

import { ConnectionListener, type Message } from "../../lib/index.js";
import type { ChatClientMessages, ChatServerMessages } from "./chat-server.js";

/** Options of a {@link ChatClient}. */
export interface ChatClientOptions {
  /** Receives every line to show the user. */
  readonly print: (line: string) => void;
  /** Called once when the client is done: disconnected, or the connection failed. */
  readonly onEnd?: (reason: "disconnected" | "error") => void;
}

/** The commands a user can type besides plain lines. */
export const CHAT_HELP = "commands: /join <room>, /nick <name>, /who, /quit";

/**
 * A chat user: `start()` connects and introduces it by its nickname, then `say()` sends what the
 * user types. The classic style: everything it shows happens in its `Network_*` handlers, which run
 * inside `pump()`.
 */
export class ChatClient extends ConnectionListener<ChatServerMessages, ChatClientMessages> {
  /** The names in this user's room, as last sent by the server. */
  players: readonly string[] = [];
  /** The room this user talks in, as last reported by the server. */
  room = "";
  private ended = false;

  constructor(
    private nickname: string,
    private readonly options: ChatClientOptions,
  ) {
    super();
  }

  /**
   * Connects and introduces itself at once: the nickname is queued before anything typed while
   * the connection opens, so the server knows the name before the first line.
   */
  start(host: string, port: number): void {
    this.connect(host, port);
    this.send({ action: "nickname", nickname: this.nickname });
  }

  /** Handles one typed line: a command, or a line of chat. */
  say(line: string): void {
    const text = line.trim();
    if (text === "") return;
    const [command = "", ...rest] = text.split(/\s+/);
    const argument = rest.join(" ");
    switch (command) {
      case "/quit":
        this.close();
        return;
      case "/who":
        this.options.print(`in #${this.room}: ${this.players.join(", ")}`);
        return;
      case "/join":
        if (argument === "") this.options.print("usage: /join <room>");
        else this.send({ action: "join", room: argument });
        return;
      case "/nick":
        if (argument === "") this.options.print("usage: /nick <name>");
        else {
          this.nickname = argument;
          this.send({ action: "nickname", nickname: argument });
        }
        return;
      case "/help":
        this.options.print(CHAT_HELP);
        return;
      default:
        this.send({ action: "message", text });
    }
  }

  Network_connected(): void {
    this.options.print(`connected as ${this.nickname}; ${CHAT_HELP}`);
  }

  Network_system(message: Message<ChatServerMessages, "system">): void {
    this.options.print(`* ${message.text}`);
  }

  Network_message(message: Message<ChatServerMessages, "message">): void {
    this.options.print(`${message.nickname}: ${message.text}`);
  }

  Network_players(message: Message<ChatServerMessages, "players">): void {
    this.players = message.list;
    this.room = message.room;
  }

  Network_error(message: { error: string }): void {
    this.options.print(`error: ${message.error}`);
    this.end("error");
  }

  Network_disconnected(): void {
    this.options.print("disconnected");
    this.end("disconnected");
  }

  private end(reason: "disconnected" | "error"): void {
    if (this.ended) return;
    this.ended = true;
    this.options.onEnd?.(reason);
  }
}
