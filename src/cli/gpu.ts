/** `wgllama gpu [--json]`: the adapter, its features and limits, and our workgroup choices. */
import { UsageError } from "../errors.ts";
import { describeGpu } from "../gpu/device.ts";
import { command } from "./args.ts";
import { out } from "./output.ts";

const USAGE = `Usage: wgllama gpu [--json]

Prints the WebGPU adapter wgllama would use: its description, features, limits and the
workgroup sizes chosen for it.

  --json     print one JSON object
`;

/** The gpu command. */
export const gpu = command({
  name: "gpu",
  summary: "show the WebGPU adapter, its features and limits",
  usage: USAGE,
  flags: { json: { type: "boolean" } },
  async run({ values, positionals }) {
    if (positionals.length) {
      throw new UsageError(`gpu: takes no arguments, got "${positionals[0]}"`);
    }
    const info = await describeGpu();
    const { limits, workgroups } = info;
    if (values.json) out(JSON.stringify(info, null, 2) + "\n");
    else {
      const w = Math.max(...Object.keys(limits).map((k) => k.length));
      out(
        `Adapter      ${info.description || "(no description)"}${
          info.software ? " (software)" : ""
        }\n` +
          `Vendor       ${info.vendor} ${info.architecture} ${info.device}\n` +
          `Features     ${info.features.join(", ")}\n` +
          `Workgroups   matvec ${workgroups.matvec}, reduce ${workgroups.reduce}, elementwise ${workgroups.elementwise}\n` +
          `Limits\n${
            Object.entries(limits).map(([k, v]) => `  ${k.padEnd(w)}  ${v}`).join("\n")
          }\n`,
      );
    }
    return 0;
  },
});
