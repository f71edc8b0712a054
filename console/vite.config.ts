// Vite builds the console into the orchestrator's package: pip install alone serves it at /ui.
// No inline script or style may end up in index.html (the /ui Content-Security-Policy forbids them).
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const out = fileURLToPath(new URL("../src/sparkctl/services/orchestrator/console/static", import.meta.url));

export default defineConfig({
  base: "/ui/",
  build: {
    outDir: out,
    emptyOutDir: true,
    modulePreload: { polyfill: false },
    cssCodeSplit: false,
    assetsInlineLimit: 0,
    sourcemap: false,
    chunkSizeWarningLimit: 1200,
  },
});
