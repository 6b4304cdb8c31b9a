// The sample app's entry: prints a greeting for its first argument.
import { greet } from "./greet.ts";

console.log(greet(process.argv[2] ?? ""));
