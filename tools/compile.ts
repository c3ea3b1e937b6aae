/**
 * `deno task compile`: the single `wgllama` binary with the built-in model, made by `deno compile`
 * and checked: the runtime it embeds must be denort (the Deno CLI embeds as a 126 MB copy of
 * itself that ignores the program), and the result must answer `--help` as wgllama.
 * @module
 */
const VERSION = Deno.version.deno;
const WHERE_DENORT =
  `denort comes from Deno's release assets: denort-${Deno.build.target}.zip at ` +
  `https://github.com/denoland/deno/releases/tag/v${VERSION} (deno compile downloads it itself ` +
  `when it can reach dl.deno.land); unzip it and set DENORT_BIN to the denort file`;

function fail(message: string): never {
  console.error(`compile: ${message}`);
  Deno.exit(1);
}

const runtime = Deno.env.get("DENORT_BIN");
if (runtime !== undefined) {
  // The Deno CLI evaluates code; denort only runs a program embedded in it.
  let isCli = false;
  try {
    const probe = new Deno.Command(runtime, { args: ["eval", "console.log(1)"], stderr: "null" })
      .outputSync();
    isCli = probe.success && new TextDecoder().decode(probe.stdout).trim() === "1";
  } catch (e) {
    fail(
      `DENORT_BIN=${runtime} cannot be run (${
        e instanceof Error ? e.message : e
      }): ${WHERE_DENORT}`,
    );
  }
  if (isCli) fail(`DENORT_BIN=${runtime} is the Deno CLI, not denort: ${WHERE_DENORT}`);
}

const out = Deno.args[0] ?? "wgllama";
const compiled = await new Deno.Command(Deno.execPath(), {
  args: [
    "compile",
    ...["--allow-read", "--allow-write", "--allow-ffi", "--allow-env"],
    ...["--include", "models/stories-260k", "-o", out, "main.ts"],
  ],
}).output();
if (!compiled.success) {
  fail(
    `deno compile failed${
      runtime === undefined ? ` (offline? set DENORT_BIN: ${WHERE_DENORT})` : ""
    }`,
  );
}
const help = await new Deno.Command(`./${out.replace(/^\.\//, "")}`, { args: ["--help"] }).output();
if (!new TextDecoder().decode(help.stdout).startsWith("Usage: wgllama")) {
  Deno.removeSync(out);
  fail(
    `the binary did not answer --help as wgllama (removed): is DENORT_BIN denort? ${WHERE_DENORT}`,
  );
}
console.error(`compile: wrote ${out}`);
