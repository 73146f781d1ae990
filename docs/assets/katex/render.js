// Typeset the formulas that pymdownx.arithmatex (generic mode) leaves as \( ... \) and \[ ... \], with the
// KaTeX copy shipped beside this file (no network).  Only .arithmatex elements are read, so a "$" in prose
// is never taken for math.  document$ is mkdocs-material's page observable (instant navigation included).
function typeset(root) {
  root.querySelectorAll(".arithmatex").forEach(function (el) {
    renderMathInElement(el, {
      delimiters: [
        { left: "\\(", right: "\\)", display: false },
        { left: "\\[", right: "\\]", display: true },
      ],
      throwOnError: false,
    });
  });
}
if (typeof document$ !== "undefined") {
  document$.subscribe(function (doc) { typeset(doc.body || document.body); });
} else {
  document.addEventListener("DOMContentLoaded", function () { typeset(document.body); });
}
