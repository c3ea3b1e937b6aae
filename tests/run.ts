/**
 * `deno task test`: the test suite in a temp folder of its own, which must be empty when it ends:
 * a test that leaves a file or folder behind fails the run, naming what it left.
 * @module
 */
const PERMISSIONS = [
  "--allow-read",
  "--allow-write",
  "--allow-ffi",
  "--allow-env",
  "--allow-run",
  "--allow-net=127.0.0.1,localhost",
];
const tmp = Deno.makeTempDirSync({ prefix: "wgllama-tests-" });
const args = Deno.args.length ? Deno.args : ["tests/"];
const { code } = await new Deno.Command(Deno.execPath(), {
  args: ["test", ...PERMISSIONS, ...args],
  env: { TMPDIR: tmp },
  stdin: "null",
  stdout: "inherit",
  stderr: "inherit",
}).spawn().status;
const left = [...Deno.readDirSync(tmp)].map((e) => e.name).sort();
Deno.removeSync(tmp, { recursive: true });
if (left.length) {
  console.error(
    `tests/run.ts: the tests left ${left.length} entries in their temp folder: ${
      left.slice(0, 20).join(", ")
    }${left.length > 20 ? ", …" : ""}`,
  );
  Deno.exit(code || 1);
}
Deno.exit(code);
