// Configuration of the MathJax shipped with the site (assets/mathjax/, see
// scripts/mkdocs_hooks.py) for pymdownx.arithmatex's generic output.
window.MathJax = {
  tex: { inlineMath: [["\\(", "\\)"]], displayMath: [["\\[", "\\]"]] },
  svg: { fontCache: "global" },
  options: { ignoreHtmlClass: ".*|", processHtmlClass: "arithmatex" },
};
