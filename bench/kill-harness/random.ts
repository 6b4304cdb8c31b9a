// The harness's dice: which request to send, which run to cancel, how long to wait.

export const pick = <T>(items: T[]): T => items[Math.floor(Math.random() * items.length)]!;
export const between = (min: number, max: number) => min + Math.random() * (max - min);

export function pickWeighted(entries: [string, number][]): string {
  let roll = Math.random() * entries.reduce((sum, [, weight]) => sum + weight, 0);
  for (const [name, weight] of entries) {
    roll -= weight;
    if (roll <= 0) return name;
  }
  return entries[entries.length - 1]![0];
}
