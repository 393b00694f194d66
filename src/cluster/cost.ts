/**
 * On-demand prices in US dollars per node-hour (us-east-1, as published by AWS in 2024), for an order of
 * magnitude only: prices differ by region and change. Shown as an estimate, never as a bill.
 */
export const NODE_HOURLY_USD: Readonly<Record<string, number>> = {
  'dc2.large': 0.25,
  'dc2.8xlarge': 4.8,
  'ra3.large': 0.543,
  'ra3.xlplus': 1.086,
  'ra3.4xlarge': 3.26,
  'ra3.16xlarge': 13.04,
};

/** Serverless: US dollars per RPU-hour (us-east-1), charged only while the workgroup works. */
export const RPU_HOURLY_USD = 0.375;

const usd = (n: number) => `$${n.toFixed(2)}`;

/** "about $1.00/hour (4 x dc2.large at $0.25, estimate)", or why there is no estimate. */
export function hourlyCost(nodeType: string, nodes: number): string {
  const price = NODE_HOURLY_USD[nodeType];
  if (price === undefined) return `no estimate for node type ${nodeType}`;
  return `about ${usd(price * nodes)}/hour (${nodes} x ${nodeType} at ${usd(price)}, on-demand us-east-1 estimate)`;
}

export function serverlessCost(rpus: number): string {
  return `about ${usd(rpus * RPU_HOURLY_USD)}/hour while queries run (${rpus} RPU at ${usd(RPU_HOURLY_USD)}, us-east-1 estimate; nothing when idle but storage)`;
}
