/**
 * Training data: a file or a folder of files turned into token sequences.
 * - Plain text (any file but `.jsonl`), packed by HF's `run_clm` recipe (`packing` "lines", the
 *   default): each line a document (as the `datasets` text loader splits it, empty lines too)
 *   tokenized as `tokenizer(line)` does (BOS where the tokenizer adds it), all concatenated and
 *   cut into blocks of `seqLen` tokens, the remainder dropped (`group_texts`). With "files", each
 *   file (and `text` record) is one document and the short last block is kept. Labels are the ids.
 * - JSONL, one object a line: `{"input_ids": [...], "attention_mask"?: [...], "labels"?: [...]}`
 *   (pre-tokenized, one sequence each, taken as it is); `{"text": "..."}` (packed as plain
 *   text); `{"messages": [...]}` (one sequence each, rendered through the chat template; with
 *   `chat`, only the assistant messages' tokens and the token closing each carry labels).
 * Sequences longer than `seqLen` are refused, not cut silently.
 * @module
 */
import { InputError } from "../errors.ts";
import { decodeUtf8, readBytes } from "../io/user_file.ts";
import type { ChatMessage, ChatTemplate } from "../text/chat_template.ts";
import type { TextTokenizer } from "../text/tokenizer.ts";
import { IGNORE_INDEX, type Sequence } from "./batch.ts";

/** How text becomes tokens. */
export interface TextCodec {
  tokenizer?: TextTokenizer;
  template?: ChatTemplate;
}

/** Reads `path` (a file, or every file of a folder in name order) into sequences. */
export function readTrainingData(
  path: string,
  codec: TextCodec,
  options: { seqLen: number; chat?: boolean; packing?: Packing },
): Sequence[] {
  const files = listFiles(path);
  const sequences: Sequence[] = [];
  const texts: string[] = [];
  for (const file of files) {
    const text = decodeUtf8(readBytes(file), file);
    if (!file.endsWith(".jsonl")) {
      if ((options.packing ?? "lines") === "lines") texts.push(...splitLines(text));
      else texts.push(text);
      continue;
    }
    text.split("\n").forEach((line, i) => {
      if (line.trim() === "") return;
      const where = `${file}:${i + 1}`;
      const record = parseRecord(line, where);
      if ("text" in record) return void texts.push(record.text);
      const seq = "messages" in record
        ? renderChat(record.messages, codec, where, options.chat ?? false)
        : record;
      if (seq.inputIds.length > options.seqLen) {
        throw new InputError(
          `${where}: the sequence has ${seq.inputIds.length} tokens, more than --seq-len ${options.seqLen}`,
        );
      }
      sequences.push(seq);
    });
  }
  if (texts.length) {
    const tokenizer = needTokenizer(codec, path);
    const ids = texts.flatMap((t) => tokenizer.encode(t, { postProcess: true }));
    // group_texts drops what does not fill a last block; "files" keeps it.
    const end = (options.packing ?? "lines") === "lines"
      ? ids.length - ids.length % options.seqLen
      : ids.length;
    for (let i = 0; i < end; i += options.seqLen) {
      const block = ids.slice(i, Math.min(i + options.seqLen, end));
      if (block.length >= 2) sequences.push({ inputIds: block });
    }
    if (sequences.length === 0 && ids.length >= 2) {
      throw new InputError(
        `${path}: ${ids.length} tokens of text do not fill one --seq-len block of ${options.seqLen} (run_clm drops the remainder): lower --seq-len, or --pack files to keep a short block`,
      );
    }
  }
  if (sequences.length === 0) {
    throw new InputError(`${path}: no training sequences (the data is empty or too short)`);
  }
  return sequences;
}

/** How plain text is packed: run_clm's lines (the default), or one document per file. */
export type Packing = "lines" | "files";

/**
 * Lines as Python's `str.splitlines()` cuts them (what the `datasets` text loader does): at
 * \n, \r\n, \r and the other line boundaries, no empty line after a final break.
 */
export function splitLines(text: string): string[] {
  // deno-lint-ignore no-control-regex -- Python's line boundaries include these controls
  const lines = text.split(/\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]/);
  if (lines.at(-1) === "") lines.pop();
  return lines;
}

type TrainingRecord = Sequence | { text: string } | { messages: ChatMessage[] };

function parseRecord(line: string, where: string): TrainingRecord {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    throw new InputError(`${where}: not valid JSON`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new InputError(`${where}: expected a JSON object with input_ids, text or messages`);
  }
  const o = json as Record<string, unknown>;
  if ("input_ids" in o) {
    const ints = (key: string) => {
      const v = o[key];
      if (v === undefined && key !== "input_ids") return undefined;
      if (!Array.isArray(v) || !v.every((x) => Number.isInteger(x))) {
        throw new InputError(`${where}: "${key}" must be an array of integers`);
      }
      return v as number[];
    };
    return {
      inputIds: ints("input_ids")!,
      attentionMask: ints("attention_mask"),
      labels: ints("labels"),
    };
  }
  if ("text" in o) {
    if (typeof o.text !== "string") throw new InputError(`${where}: "text" must be a string`);
    return { text: o.text };
  }
  if ("messages" in o) {
    const m = o.messages;
    if (
      !Array.isArray(m) ||
      !m.every((x) => typeof x?.role === "string" && typeof x?.content === "string")
    ) {
      throw new InputError(`${where}: "messages" must be an array of {role, content} strings`);
    }
    return { messages: m as ChatMessage[] };
  }
  throw new InputError(`${where}: expected "input_ids", "text" or "messages"`);
}

/** A conversation's ids; with `assistantOnly`, labels only on the assistant messages' tokens. */
function renderChat(
  messages: ChatMessage[],
  codec: TextCodec,
  where: string,
  assistantOnly: boolean,
): Sequence {
  const template = codec.template;
  if (!template) {
    throw new InputError(`${where}: chat messages need the model's chat template, and it has none`);
  }
  const { ids, spans } = template.encodeSpans(messages, { addGenerationPrompt: false });
  if (!assistantOnly) return { inputIds: ids };
  // An assistant message's tokens and the one after them (its end-of-turn token), so the model
  // learns to stop.
  const labels = ids.map(() => IGNORE_INDEX);
  messages.forEach((m, k) => {
    const span = spans[k];
    if (m.role !== "assistant" || !span) return;
    for (let i = span[0]; i <= Math.min(span[1], ids.length - 1); i++) labels[i] = ids[i]!;
  });
  return { inputIds: ids, labels };
}

function needTokenizer(codec: TextCodec, path: string): TextTokenizer {
  if (!codec.tokenizer) {
    throw new InputError(
      `${path}: text needs the model's tokenizer.json, and it has none (give pre-tokenized JSONL)`,
    );
  }
  return codec.tokenizer;
}

function listFiles(path: string): string[] {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
  } catch {
    throw new InputError(`--data ${path}: no such file or folder`);
  }
  if (!info.isDirectory) return [path];
  const files = [...Deno.readDirSync(path)].filter((e) => e.isFile).map((e) => `${path}/${e.name}`)
    .sort();
  if (files.length === 0) throw new InputError(`--data ${path}: the folder has no files`);
  return files;
}
