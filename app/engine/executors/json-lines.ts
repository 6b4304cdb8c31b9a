// The Engine API's progress streams (a build's, a push's): one JSON message per line. Lines
// are put back together across chunks; one that is not a JSON object is handed on as text.

/** Reads the stream to its end; throws what reading throws (a broken connection). */
export async function readJsonLines<T>(stream: AsyncIterable<Uint8Array>, onMessage: (message: T) => void, onText: (line: string) => void): Promise<void> {
  const decoder = new TextDecoder();
  let pending = "";
  const line = (text: string) => {
    if (text.trim() === "") return;
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      message = undefined;
    }
    // Only an object is a message; anything else is text for the log.
    if (typeof message === "object" && message !== null) onMessage(message as T);
    else onText(text);
  };
  for await (const chunk of stream) {
    pending += decoder.decode(chunk, { stream: true });
    let newline = pending.indexOf("\n");
    while (newline !== -1) {
      line(pending.slice(0, newline));
      pending = pending.slice(newline + 1);
      newline = pending.indexOf("\n");
    }
  }
  line(pending + decoder.decode());
}
