import { assert, assertEquals } from "../_assert.ts";
import { wgllama } from "../_cli.ts";
import { fixture } from "../_fixtures.ts";

const LLAMA3 = fixture("tiny-llama3-vocab");
const MAIN = new URL("../../main.ts", import.meta.url).pathname;

Deno.test("wgllama chat driven through stdin: turns, /stats, /set, /save, /reset, cache reuse", async () => {
  const save = Deno.makeTempFileSync({ suffix: ".json" });
  const script = [
    "Hello",
    "/stats",
    "How are you?",
    "/stats",
    "/set temperature 0.5",
    `/save ${save}`,
    "/reset",
    "/stats",
    "/exit",
  ];
  const r = await wgllama([
    "chat",
    LLAMA3,
    "--max-tokens",
    "8",
    "--temperature",
    "0",
    "--system",
    "Be kind.",
  ], {
    stdin: script.join("\n") + "\n",
  });
  assertEquals(r.code, 0, r.stderr);
  const stats = r.stdout.split("\n").filter((l) =>
    l.startsWith("last reply:") || l.startsWith("no reply")
  );
  assertEquals(stats.length, 3, r.stdout);
  const prefill = stats.slice(0, 2).map((l) =>
    /prefill (\d+) of (\d+)/.exec(l)!.slice(1).map(Number)
  );
  const [[p1, n1], [p2, n2]] = prefill as [[number, number], [number, number]];
  assertEquals(p1, n1, "the first turn prefills its whole prompt");
  assert(
    p2 <= n2 - n1,
    `the second turn prefills only its own tokens: ${p2} of ${n2} (first prompt ${n1})`,
  );
  assert(stats[2]!.includes("context 0/"), stats[2]);
  assert(r.stdout.includes("(temperature = 0.5)"));
  const saved = JSON.parse(Deno.readTextFileSync(save));
  assertEquals(saved.map((m: { role: string }) => m.role), [
    "system",
    "user",
    "assistant",
    "user",
    "assistant",
  ]);
  assertEquals([saved[1].content, saved[3].content], ["Hello", "How are you?"]);
});

Deno.test("wgllama chat: Ctrl-C (SIGINT) during a reply stops it and keeps the session", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "chat", LLAMA3, "--max-tokens", "3000", "--temperature", "0"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode("Tell me a long story\n"));
  const reader = child.stdout.getReader();
  let stdout = "";
  while (stdout.length < 20) {
    const { value, done } = await reader.read();
    if (done) break;
    stdout += new TextDecoder().decode(value);
  }
  child.kill("SIGINT");
  await writer.write(new TextEncoder().encode("/stats\n/exit\n"));
  await writer.close();
  for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
    stdout += new TextDecoder().decode(chunk.value);
  }
  const status = await child.status;
  const stderr = new TextDecoder().decode(await new Response(child.stderr).arrayBuffer());
  assertEquals(status.code, 0, stderr);
  assert(stderr.includes("reply stopped"), stderr);
  const stats = stdout.split("\n").find((l) => l.startsWith("last reply:"));
  assert(stats?.includes("(interrupted)"), stdout.slice(-300));
});
