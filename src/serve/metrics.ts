/**
 * What `GET /metrics` reports, in Prometheus' text format: requests by route and status, prompt
 * and generated tokens, requests running and waiting, and the time to the first token.
 * @module
 */

/** Upper bounds (seconds) of the time-to-first-token histogram's buckets. */
const TTFT_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Counters and a histogram, updated as requests end. */
export class Metrics {
  readonly #requests = new Map<string, number>(); // `path status` → count
  #promptTokens = 0;
  #generatedTokens = 0;
  readonly #ttft = new Array<number>(TTFT_BUCKETS.length + 1).fill(0); // last: +Inf
  #ttftSum = 0;

  /** One finished request. */
  record(path: string, status: number, r: { prompt?: number; completion?: number; ttft?: number }) {
    const key = `${path} ${status}`;
    this.#requests.set(key, (this.#requests.get(key) ?? 0) + 1);
    this.#promptTokens += r.prompt ?? 0;
    this.#generatedTokens += r.completion ?? 0;
    if (r.ttft !== undefined) {
      const bucket = TTFT_BUCKETS.findIndex((b) => r.ttft! <= b);
      this.#ttft[bucket < 0 ? TTFT_BUCKETS.length : bucket]!++;
      this.#ttftSum += r.ttft;
    }
  }

  /** The exposition text, with the engine's current load. */
  text(load: { active: number; waiting: number }): string {
    const lines = [
      "# HELP wgllama_requests_total Requests answered, by route and status.",
      "# TYPE wgllama_requests_total counter",
      ...[...this.#requests].map(([key, n]) => {
        const [path, status] = key.split(" ");
        return `wgllama_requests_total{path="${path}",status="${status}"} ${n}`;
      }),
      "# HELP wgllama_prompt_tokens_total Prompt tokens of answered requests.",
      "# TYPE wgllama_prompt_tokens_total counter",
      `wgllama_prompt_tokens_total ${this.#promptTokens}`,
      "# HELP wgllama_generation_tokens_total Tokens generated.",
      "# TYPE wgllama_generation_tokens_total counter",
      `wgllama_generation_tokens_total ${this.#generatedTokens}`,
      "# HELP wgllama_requests_running Sequences decoding now.",
      "# TYPE wgllama_requests_running gauge",
      `wgllama_requests_running ${load.active}`,
      "# HELP wgllama_requests_waiting Requests waiting for a slot.",
      "# TYPE wgllama_requests_waiting gauge",
      `wgllama_requests_waiting ${load.waiting}`,
      "# HELP wgllama_time_to_first_token_seconds From a request's arrival to its first token.",
      "# TYPE wgllama_time_to_first_token_seconds histogram",
    ];
    let cumulative = 0;
    for (const [i, le] of [...TTFT_BUCKETS.map(String), "+Inf"].entries()) {
      cumulative += this.#ttft[i]!;
      lines.push(`wgllama_time_to_first_token_seconds_bucket{le="${le}"} ${cumulative}`);
    }
    lines.push(
      `wgllama_time_to_first_token_seconds_sum ${this.#ttftSum}`,
      `wgllama_time_to_first_token_seconds_count ${cumulative}`,
    );
    return lines.join("\n") + "\n";
  }
}
