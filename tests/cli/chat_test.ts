import { assert, assertEquals } from "../_assert.ts";
import { wgllama } from "../_cli.ts";
import { fixture } from "../_fixtures.ts";
import { tempDir, tempFile } from "../_temp.ts";

const LLAMA3 = fixture("tiny-llama3-vocab");
const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** A chat process driven line by line: type, read stdout until a condition, then finish. */
function startChat(args: string[]) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "chat", ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  const reader = child.stdout.getReader();
  const session = {
    stdout: "",
    type: (text: string) => writer.write(new TextEncoder().encode(text)),
    async readUntil(done: (stdout: string) => boolean) {
      while (!done(session.stdout)) {
        const chunk = await reader.read();
        if (chunk.done) break;
        session.stdout += new TextDecoder().decode(chunk.value);
      }
    },
    signal: (signal: Deno.Signal) => child.kill(signal),
    /** Closes stdin, reads everything, and returns the exit code and stderr. */
    async finish() {
      await writer.close();
      await session.readUntil(() => false);
      const { code } = await child.status;
      return { code, stderr: await new Response(child.stderr).text() };
    },
  };
  return session;
}

Deno.test("wgllama chat driven through stdin: turns, /stats, /set, /save, /reset, cache reuse", async () => {
  const save = tempFile({ suffix: ".json" });
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
  const chat = startChat([LLAMA3, "--max-tokens", "3000", "--temperature", "0"]);
  await chat.type("Tell me a long story\n");
  await chat.readUntil((stdout) => stdout.length >= 20);
  chat.signal("SIGINT");
  await chat.type("/stats\n/exit\n");
  const { code, stderr } = await chat.finish();
  assertEquals(code, 0, stderr);
  assert(stderr.includes("reply stopped"), stderr);
  const stats = chat.stdout.split("\n").find((l) => l.startsWith("last reply:"));
  assert(stats?.includes("(interrupted)"), chat.stdout.slice(-300));
});

Deno.test("wgllama chat outgrowing its context drops the oldest turns and goes on; a turn too long alone is refused", async () => {
  const raw = await wgllama(["chat", "--ctx", "64", "--max-tokens", "40", "--temperature", "0"], {
    stdin: "Once upon a time\nThe dog ran\nLily saw a cat\n/stats\n",
  });
  assertEquals(raw.code, 0, raw.stderr);
  assertEquals(raw.stdout.split("\n").filter((l) => l.startsWith("last reply:")).length, 1);
  assert(raw.stderr.includes("the conversation outgrew the context (64 tokens)"), raw.stderr);
  const long = Array(80).fill("word").join(" ");
  const r = await wgllama([
    "chat",
    LLAMA3,
    "--ctx",
    "48",
    "--max-tokens",
    "6",
    "--temperature",
    "0",
    "--system",
    "Be kind.",
  ], {
    stdin: `Hello\nHow are you?\nGood\n${long}\nStill here?\n/save ${tempDir()}/c.json\n`,
  });
  assertEquals(r.code, 0, r.stderr);
  assert(/oldest \d+ turns? dropped/.test(r.stderr), r.stderr);
  assert(r.stderr.includes("tokens: the context holds 48 (raise --ctx); not sent"), r.stderr);
  assert(r.stdout.includes("(saved"), r.stdout);
  const saved = JSON.parse(
    Deno.readTextFileSync(r.stdout.match(/saved \d+ messages to (\S+)\)/)![1]!),
  );
  assertEquals(saved[0], { role: "system", content: "Be kind." });
  assertEquals(saved.at(-2).content, "Still here?");
});

Deno.test("wgllama chat: Ctrl-C at the prompt, even twice, never ends the chat", async () => {
  const chat = startChat([LLAMA3, "--max-tokens", "4", "--temperature", "0"]);
  await chat.type("Hello\n");
  await chat.readUntil((stdout) => stdout.includes("\n"));
  chat.signal("SIGINT");
  chat.signal("SIGINT");
  await new Promise((r) => setTimeout(r, 300));
  await chat.type("Again\n/stats\n");
  const { code, stderr } = await chat.finish();
  assertEquals(code, 0, stderr);
  assert(stderr.includes("/exit or Ctrl-D leaves"), stderr);
  assert(chat.stdout.includes("last reply: 4 tokens"), chat.stdout);
});
