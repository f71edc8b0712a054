// Vite turns a CSS import into the stylesheet file the built index.html links to.
declare module "*.css";
