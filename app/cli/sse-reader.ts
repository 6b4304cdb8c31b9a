// Reads a server-sent event stream (text/event-stream) into messages, following the
// WHATWG parsing rules the CLI needs: multi-line data, named events, comments.

export interface SseMessage {
  /** "message" for unnamed events, as in the browser's EventSource. */
  event: string;
  /** The data lines joined by "\n". */
  data: string;
  id?: string;
}

export async function* readSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseMessage> {
  const decoder = new TextDecoder();
  let buffer = "";
  let event = "";
  let data: string[] = [];
  let id: string | undefined;

  const take = (line: string): SseMessage | undefined => {
    if (line === "") {
      const message = data.length ? { event: event || "message", data: data.join("\n"), ...(id !== undefined && { id }) } : undefined;
      event = "";
      data = [];
      return message;
    }
    if (line.startsWith(":")) return undefined; // a comment: the server's heartbeat
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "data") data.push(value);
    else if (field === "event") event = value;
    else if (field === "id") id = value;
    return undefined;
  };

  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    // A "\r" at the very end may be the first half of "\r\n": wait for the next chunk.
    const usable = buffer.endsWith("\r") ? buffer.length - 1 : buffer.length;
    const lines = buffer.slice(0, usable).split(/\r\n|\r|\n/);
    buffer = lines.pop()! + buffer.slice(usable);
    for (const line of lines) {
      const message = take(line);
      if (message) yield message;
    }
  }
  // A stream that ends mid-message drops that message, as EventSource does.
}
