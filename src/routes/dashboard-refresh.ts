/** How often the dashboard page fetches a fresh rendering of the services. */
export const REFRESH_MS = 2_000;
