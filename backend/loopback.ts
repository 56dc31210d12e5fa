import { isIPv4 } from "node:net";

/** Whether `host` is a dotted IPv4 address in 127.0.0.0/8, the only ones a node may bind. */
export function isLoopbackIPv4(host: string): boolean {
  return isIPv4(host) && host.startsWith("127.");
}
