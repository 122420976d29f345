import { describe, expect, it } from "vitest";
import * as operators from "../../lib/operators.js";
import { bundleForBrowser, formatKiB } from "../helpers/browser-bundle.js";

const OPERATOR_FILES = /^lib\/operators(\/|\.ts$)/;

describe("repod-rx/operators", () => {
  it("exports the netcode operators, grouped, and nothing else", () => {
    expect(Object.keys(operators).sort()).toEqual(
      [
        "distance",
        "interpolate",
        "lerp",
        "lerpAngle",
        "numberInputs",
        "ofAction",
        "predict",
        "serverClock",
        "simulateLatency",
      ].sort(),
    );
  });

  it("bundles for the browser without any Node module", async () => {
    const bundle = await bundleForBrowser({ file: "lib/operators.ts" });
    expect(bundle.inputs.filter((file) => OPERATOR_FILES.test(file)).length).toBeGreaterThanOrEqual(6);
    console.log(`repod-rx/operators, everything: ${formatKiB(bundle.bytes)} (${formatKiB(bundle.gzipBytes)} gzipped)`);
  });

  it("costs nothing to a page that imports only repod-rx/client", async () => {
    const page = await bundleForBrowser({
      source: `import { ConnectionListener } from "./lib/browser.ts";
        const listener = new ConnectionListener();
        listener.connect("ws://127.0.0.1:1/ws");`,
    });
    expect(page.inputs.filter((file) => OPERATOR_FILES.test(file))).toEqual([]);
  });

  it("costs a page only the operators it imports", async () => {
    const page = await bundleForBrowser({
      source: `import { ConnectionListener } from "./lib/browser.ts";
        import { ofAction } from "./lib/operators.ts";
        new ConnectionListener().messages$.pipe(ofAction("move")).subscribe(console.log);`,
    });
    expect(page.inputs.filter((file) => OPERATOR_FILES.test(file))).toEqual(["lib/operators/of-action.ts"]);
  });

  it("adds a few KiB to a client page when it uses every operator", async () => {
    const client = `import { ConnectionListener } from "./lib/browser.ts";
      const listener = new ConnectionListener();
      listener.connect("ws://127.0.0.1:1/ws");`;
    const alone = await bundleForBrowser({ source: client });
    const all = await bundleForBrowser({
      source: `${client}
        import { animationFrames } from "rxjs";
        import * as operators from "./lib/operators.ts";
        listener.messages$.pipe(operators.ofAction("state")).subscribe(console.log);
        listener.clockSamples$.pipe(operators.serverClock()).subscribe(console.log);
        listener.on("state").pipe(operators.interpolate({ ticks: animationFrames() })).subscribe(console.log);
        listener.on("state").pipe(operators.predict({ inputs: listener.on("state").pipe(operators.numberInputs()), apply: (s) => s })).subscribe(console.log);
        operators.simulateLatency(listener, { delay: 75 });`,
    });
    const extra = all.gzipBytes - alone.gzipBytes;
    console.log(
      `a client page: ${formatKiB(alone.gzipBytes)} gzipped; with every operator: ${formatKiB(all.gzipBytes)} (+${formatKiB(extra)})`,
    );
    expect(extra).toBeGreaterThan(0);
    expect(extra).toBeLessThan(8 * 1024);
  });
});
