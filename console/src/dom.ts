// The one way the console builds DOM: elements with attributes and children, text only ever through text nodes.
// Nothing here parses HTML, so a value from the server (a file name, an entity, a chunk) is always shown as text.

export type Child = Node | string | number | null | undefined | false | Child[];

export interface Attrs {
  class?: string;
  on?: Partial<{ [K in keyof HTMLElementEventMap]: (event: HTMLElementEventMap[K]) => void }>;
  [name: string]: unknown;
}

const FORBIDDEN = /^(on|style$|srcdoc$|innerhtml$|outerhtml$)/i;
const URL_ATTRS = new Set(["href", "src", "action", "formaction", "xlink:href"]);

/** A safe value for a URL attribute: same-origin paths, fragments, data:/blob: images; nothing scriptable. */
function safeUrl(value: string): string {
  const trimmed = value.trim();
  if (trimmed.startsWith("#") || trimmed.startsWith("/")) return trimmed;
  try {
    const url = new URL(trimmed, window.location.href);
    if (url.origin === window.location.origin && (url.protocol === "http:" || url.protocol === "https:")) return trimmed;
    if (url.protocol === "blob:") return trimmed;
  } catch {
    return "#";
  }
  return "#";
}

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs | null = null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  if (attrs) {
    for (const [name, value] of Object.entries(attrs)) {
      if (name === "on") {
        for (const [event, handler] of Object.entries(value as Record<string, EventListener>)) {
          element.addEventListener(event, handler);
        }
        continue;
      }
      if (value === undefined || value === null || value === false) continue;
      if (FORBIDDEN.test(name)) throw new Error(`attribute ${name} is not set through h()`);
      if (name === "value" && "value" in element) {
        (element as HTMLInputElement).value = String(value);
        continue;
      }
      if (name === "checked" && element instanceof HTMLInputElement) {
        element.checked = Boolean(value);
        continue;
      }
      const text = value === true ? "" : String(value);
      element.setAttribute(name, URL_ATTRS.has(name.toLowerCase()) ? safeUrl(text) : text);
    }
  }
  append(element, children);
  return element;
}

export function append(parent: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else if (child instanceof Node) parent.appendChild(child);
    else parent.appendChild(document.createTextNode(String(child)));
  }
}

/** Replace everything inside `parent` by `children`. */
export function replace(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, children);
}

/** A line saying what went wrong, in the error style. */
export function errorLine(message: string): HTMLElement {
  return h("p", { class: "error", role: "alert" }, message);
}

export function formatTime(value: string | number | null | undefined): string {
  if (value === null || value === undefined || value === "") return "—";
  const date = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return date.toLocaleString();
}

export function formatCount(value: number | null | undefined): string {
  return value === null || value === undefined ? "—" : value.toLocaleString();
}
