/**
 * Per-kernel timing with timestamp queries: each launch of a recorded plan gets a compute pass of
 * its own with a begin and an end timestamp; times are summed by launch name.
 * @module
 */
import { InputError } from "../errors.ts";
import type { Gpu } from "../gpu/device.ts";
import { readBuffer } from "../gpu/buffers.ts";
import type { Launch } from "../gpu/ops.ts";

/** Time spent in the launches of one name. */
export interface KernelTime {
  name: string;
  seconds: number;
  launches: number;
}

/**
 * Times the launches `plan` records (it is called twice: once to count them, once to run them),
 * named by `nameOf`, slowest first.
 */
export async function timeLaunches(
  gpu: Gpu,
  plan: (record: (launch: Launch, rows: number) => void) => void,
  nameOf: (launch: Launch) => string,
  lastPosition: number,
): Promise<KernelTime[]> {
  if (!gpu.features.has("timestamp-query")) {
    throw new InputError("This GPU does not offer timestamp-query");
  }
  const { device } = gpu;
  let count = 0;
  plan(() => count++); // the dispatch count comes from the plan itself
  const querySet = device.createQuerySet({ type: "timestamp", count: 2 * count });
  const resolved = device.createBuffer({
    size: 2 * count * 8,
    usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
  });
  const order: string[] = [];
  const encoder = device.createCommandEncoder({ label: "profile" });
  plan((launch, rows) => {
    const i = order.length;
    order.push(nameOf(launch));
    const pass = encoder.beginComputePass({
      timestampWrites: {
        querySet,
        beginningOfPassWriteIndex: 2 * i,
        endOfPassWriteIndex: 2 * i + 1,
      },
    });
    launch.record(pass, rows, lastPosition);
    pass.end();
  });
  encoder.resolveQuerySet(querySet, 0, 2 * count, resolved, 0);
  device.queue.submit([encoder.finish()]);
  const times = new BigUint64Array(await readBuffer(device, resolved, 2 * count * 8));
  querySet.destroy();
  resolved.destroy();
  const byName = new Map<string, KernelTime>();
  order.forEach((name, i) => {
    const entry = byName.get(name) ?? { name, seconds: 0, launches: 0 };
    entry.seconds += Number(times[2 * i + 1]! - times[2 * i]!) / 1e9;
    entry.launches++;
    byName.set(name, entry);
  });
  return [...byName.values()].sort((a, b) => b.seconds - a.seconds);
}
