// Copyright mb authors. MIT license.
//
// A worker in the queue group "workers" on `jobs/#`: run several copies and
// each job goes to exactly one of them. The same file also produces jobs.
// Needs a broker at $MB_SERVER or mb://127.0.0.1:4150.
//
//   deno run -A examples/worker.ts                 # a worker; start it in a few terminals
//   deno run -A examples/worker.ts --produce 10    # publish 10 jobs, then exit
//
// A worker runs until Ctrl-C, or handles `--count N` jobs and exits;
// `--name` sets the name it prints (default worker-<pid>).

import { parseArgs } from "node:util";
import { connect } from "../mod.ts";

interface Job {
  id: number;
  image: string;
}

const { values } = parseArgs({
  args: Deno.args,
  options: {
    produce: { type: "string" },
    count: { type: "string" },
    name: { type: "string", default: `worker-${Deno.pid}` },
  },
});

const server = Deno.env.get("MB_SERVER") ?? "mb://127.0.0.1:4150";
await using mb = await connect(server, { name: values.name });

if (values.produce !== undefined) {
  const jobs = Number(values.produce);
  for (let id = 1; id <= jobs; id++) {
    const job: Job = { id, image: `photo-${id}.jpg` };
    await mb.publish("jobs/resize", JSON.stringify(job));
  }
  await mb.flush();
  console.log(`Published ${jobs} jobs to jobs/resize`);
} else {
  const max = values.count === undefined ? undefined : Number(values.count);
  // Every subscription with the same queue name shares the messages.
  const sub = mb.subscribe("jobs/#", { queue: "workers", max });
  await mb.flush();
  console.log(`${values.name} waiting for jobs`);
  for await (const message of sub) {
    const job = message.json<Job>();
    await new Promise((resolve) => setTimeout(resolve, 20)); // the "work"
    console.log(`${values.name} handled job ${job.id} (${message.topic}: ${job.image})`);
  }
}
