import type { FunctionModule } from "../functions.ts";

/** Example functions module: answers the request text in upper case. */
export default {
  async invoke(request) {
    return {
      status: 200,
      contentType: "text/plain; charset=utf-8",
      body: request.text().toUpperCase(),
    };
  },
} satisfies FunctionModule;
