import "vitest";

declare module "vitest" {
  export interface ProvidedContext {
    /** Control URL of the loopback fleet of reference nodes shared by the integration tests. */
    fleetUrl: string;
  }
}
