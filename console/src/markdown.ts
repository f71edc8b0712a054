// An answer as Markdown: marked turns it into HTML, DOMPurify keeps only harmless elements (no images, styles,
// forms or frames: nothing the page's Content-Security-Policy would have to refuse), highlight.js colours code.

import DOMPurify from "dompurify";
import hljs from "highlight.js/lib/core";
import bash from "highlight.js/lib/languages/bash";
import c from "highlight.js/lib/languages/c";
import cpp from "highlight.js/lib/languages/cpp";
import go from "highlight.js/lib/languages/go";
import javascript from "highlight.js/lib/languages/javascript";
import json from "highlight.js/lib/languages/json";
import python from "highlight.js/lib/languages/python";
import rust from "highlight.js/lib/languages/rust";
import typescript from "highlight.js/lib/languages/typescript";
import yaml from "highlight.js/lib/languages/yaml";
import { marked } from "marked";

const LANGUAGES = { bash, c, cpp, go, javascript, json, python, rust, typescript, yaml };
for (const [name, language] of Object.entries(LANGUAGES)) hljs.registerLanguage(name, language);
hljs.registerAliases(["sh", "shell", "console"], { languageName: "bash" });
hljs.registerAliases(["py"], { languageName: "python" });
hljs.registerAliases(["ts"], { languageName: "typescript" });
hljs.registerAliases(["js"], { languageName: "javascript" });
hljs.registerAliases(["yml"], { languageName: "yaml" });
hljs.registerAliases(["c++", "cc", "h", "hpp"], { languageName: "cpp" });

const PURIFY = {
  RETURN_DOM_FRAGMENT: true as const,
  FORBID_TAGS: ["img", "style", "form", "input", "button", "iframe", "svg", "math", "video", "audio", "picture"],
  FORBID_ATTR: ["style", "srcset"],
};

/** The Markdown text as a sanitised fragment, its fenced code blocks highlighted. */
export function renderMarkdown(text: string): DocumentFragment {
  const html = marked.parse(text, { async: false, gfm: true }) as string;
  const fragment = DOMPurify.sanitize(html, PURIFY);
  for (const link of fragment.querySelectorAll("a")) {
    link.setAttribute("rel", "noopener noreferrer");
    link.setAttribute("target", "_blank");
  }
  for (const code of fragment.querySelectorAll("pre code")) {
    const language = [...code.classList].find((name) => name.startsWith("language-"))?.slice("language-".length);
    if (language && hljs.getLanguage(language)) {
      const result = hljs.highlight(code.textContent ?? "", { language, ignoreIllegals: true });
      const highlighted = DOMPurify.sanitize(result.value, { ...PURIFY, ALLOWED_TAGS: ["span"], ALLOWED_ATTR: ["class"] });
      code.replaceChildren(highlighted);
      code.classList.add("hljs");
    }
  }
  return fragment;
}
