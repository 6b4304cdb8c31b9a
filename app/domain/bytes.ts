// Byte counts for people: the CLI, the web pages and error messages all say sizes alike.

/** 1000 → "1000 B", 1536 → "1.5 KiB", 16 MiB → "16 MiB" (one decimal below 10, none above). */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${Number(value.toFixed(value < 10 ? 1 : 0))} ${units[unit]}`;
}
