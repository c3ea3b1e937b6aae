/**
 * Writes N fictional weather reports built from fixed templates with a seeded generator: a text
 * the project makes itself, for training a small model from scratch (bench/README.md, "Training").
 * Run: deno run --allow-write bench/weather_text.ts OUT.txt N [SEED]
 */
import { mulberry32 } from "../src/train/random.ts";

const [out, count, seed] = [Deno.args[0]!, Number(Deno.args[1] ?? 1000), Number(Deno.args[2] ?? 1)];
const next = mulberry32(seed);
const pick = <T>(a: readonly T[]): T => a[Math.floor(next() * a.length)]!;
const int = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1));
const towns = [
  "Millbrook",
  "Ashford",
  "Clearwater",
  "Stonebridge",
  "Fairhaven",
  "Oakridge",
  "Riverton",
  "Elmstead",
  "Brightwater",
  "Kingsley",
  "Marlow",
  "Westfield",
  "Hollowmere",
  "Redcliff",
];
const days = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
const skies = [
  "clear skies",
  "light rain",
  "heavy rain",
  "thick fog",
  "scattered clouds",
  "snow showers",
  "strong winds",
  "bright sunshine",
  "a thunderstorm",
  "low grey cloud",
  "drizzle",
  "hail",
];
const winds = ["north", "south", "east", "west", "north-east", "south-west", "north-west"];
const advice = [
  "Take an umbrella.",
  "Wear a warm coat.",
  "A good day for a walk.",
  "Drive with care on wet roads.",
  "Keep windows closed tonight.",
  "Farmers should cover young plants.",
  "Expect delays on the ferry.",
];
const lines: string[] = [];
for (let i = 0; i < count; i++) {
  const hi = int(-2, 31);
  lines.push(
    `Weather for ${pick(towns)}, ${pick(days)}. Expect ${pick(skies)} in the morning and ${
      pick(skies)
    } later. High of ${hi} degrees, low of ${hi - int(3, 9)}. Wind from the ${pick(winds)} at ${
      int(5, 45)
    } kilometres per hour. ${pick(advice)}`,
  );
}
Deno.writeTextFileSync(out, lines.join("\n") + "\n");
