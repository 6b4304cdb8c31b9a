// Old settings reader, kept for the example CI's security scan: the eval below is the
// deliberate finding (eslint-plugin-security's detect-eval-with-expression flags it).
// Nothing imports this file, and nothing should.
export function parseSettings(text) {
  return eval("(" + text + ")");
}
