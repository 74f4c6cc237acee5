/** What a transport reports to the session on top of it. */
export interface StreamHandler {
  onData(chunk: Buffer): void;
  /** The transport's send buffer emptied after having been full. */
  onDrain(): void;
  onClose(): void;
  /**
   * A protocol error the transport itself detected (an oversized WebSocket message): the
   * session answers with an ERROR frame, then closes (STOMP 1.2, "Size Limits"). Optional:
   * a transport whose handler lacks it just closes.
   */
  fail?(err: unknown): void;
}

/**
 * One byte-stream interface under every transport (TCP, TLS, WebSocket, WSS),
 * so that every connection is the same session to the broker, with the same limits,
 * heart-beats and flow control.
 */
export interface ByteStream {
  /** 'tcp', 'tls', 'ws' or 'wss'. */
  readonly transport: string;
  readonly remoteAddress: string;
  /**
   * The login the transport proved, if any: the subject CN of a verified client
   * certificate (TLS or WSS with client certificates required). CONNECT uses it as the
   * login, whatever its `login` header says.
   */
  readonly peerLogin?: string | undefined;
  /** Bytes accepted by write() and not yet handed to the operating system. */
  readonly bufferedAmount: number;
  attach(handler: StreamHandler): void;
  /** Returns false when the send buffer is full; onDrain follows when it empties. */
  write(chunk: Buffer): boolean;
  /**
   * Asks for onDrain once what is buffered now has been sent, however little it is: the
   * session's high-water mark may be below the transport's own.
   */
  waitDrain(): void;
  cork(): void;
  uncork(): void;
  pauseReading(): void;
  resumeReading(): void;
  /** Flushes what was written, then closes. */
  end(): void;
  /** Closes at once, dropping unsent data. */
  destroy(): void;
}
