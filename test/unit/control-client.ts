import { expect } from "vitest";

/**
 * Calls a backend control server; a string body is sent raw so tests can send broken JSON. Every
 * non-empty answer must be JSON.
 */
export async function callControl(
  baseUrl: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: unknown }> {
  const init: RequestInit = { method };
  if (body !== undefined) init.body = typeof body === "string" ? body : JSON.stringify(body);
  const res = await fetch(`${baseUrl}${path}`, init);
  const text = await res.text();
  if (text !== "") expect(res.headers.get("content-type")).toBe("application/json");
  return { status: res.status, json: text === "" ? null : JSON.parse(text) };
}
