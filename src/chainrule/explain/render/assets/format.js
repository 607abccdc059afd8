// Numbers, symbols and DOM helpers for the explain page.
//
// The page's scripts are concatenated, in the order html.py lists them, into one function per
// rendered trace, so top-level declarations here are private to that trace and visible to the
// files loaded after this one.

// --- numbers: the same digits as chainrule.explain.numfmt.number ---------------

// JSON has no NaN or Infinity: the trace writes a non-finite number as null.
const NOT_FINITE = "—";

// `precision`: a number of decimals, or {sig: n} for n significant digits (numfmt.Significant).
function formatNumber(value, precision) {
  if (value === null || value === undefined) return NOT_FINITE;
  if (!Number.isFinite(value)) return Number.isNaN(value) ? "nan" : value > 0 ? "inf" : "-inf";
  if (typeof precision === "object") return significant(value, precision.sig);
  // Number("1e-p") is the correctly rounded 10^-p, as Python's 10.0 ** -p is.
  if (value !== 0 && Math.abs(value) < 0.5 * Number("1e-" + precision)) {
    return signOf(value) + scientific(Math.abs(value), Math.max(precision - 4, 2));
  }
  const text = signOf(value) + fixed(Math.abs(value), precision);
  const zero = "0." + "0".repeat(precision);
  return text.replace(/^-+/, "") === zero ? zero : text;
}

// Python's f"{value:#.{n}g}": n significant digits, fixed-point for exponents -4 to n - 1,
// else scientific (1.401e-05); the exponent taken after rounding, ties as Python breaks them.
function significant(value, digits) {
  if (value === 0) return "0." + "0".repeat(Math.max(digits - 1, 1));
  const x = Math.abs(value);
  const sci = scientific(x, digits - 1);
  const exp = Number(sci.split("e")[1]);
  const text = exp < -4 || exp >= digits ? sci.replace(".e", "e")
    : fixed(x, digits - 1 - exp);
  return signOf(value) + (text.endsWith(".") ? text.slice(0, -1) : text);
}

// A page's data-precision: "4" (decimals) or "4s" (significant digits).
function parsePrecision(text) {
  const s = String(text);
  return s.endsWith("s") ? { sig: Number(s.slice(0, -1)) } : Number(s);
}

// "4 decimals" or "4 significant digits", as the page says how its numbers are rounded.
function describePrecision(precision) {
  return typeof precision === "object" ? precision.sig + " significant digits"
    : precision + " decimals";
}

function signOf(value) {
  return value < 0 || Object.is(value, -0) ? "-" : "";
}

// JS rounds an exact tie away from zero, Python to even; both round the exact binary value, so
// a tie is only possible when that value has exactly one more decimal, a 5.
function fixed(x, digits) {
  if (x >= 1e21) { // toFixed switches to exponent form here; such a double is an integer
    return BigInt(x).toString() + (digits ? "." + "0".repeat(digits) : "");
  }
  const longer = x.toFixed(digits + 1);
  if (longer.endsWith("5") && isExact(x.toFixed(100), longer)) {
    const kept = longer.slice(0, -1).replace(/\.$/, "");
    if (Number(kept.replace(".", "").slice(-1)) % 2 === 0) return kept;
  }
  return x.toFixed(digits);
}

function scientific(x, digits) {
  let text = x.toExponential(digits);
  const longer = x.toExponential(digits + 1);
  const mantissa = longer.split("e")[0];
  if (mantissa.endsWith("5") && isExact(digitsOf(x.toPrecision(100)), digitsOf(mantissa))) {
    const kept = mantissa.slice(0, -1).replace(/\.$/, "");
    if (Number(kept.slice(-1)) % 2 === 0) text = kept + "e" + longer.split("e")[1];
  }
  // Python writes at least two exponent digits and always a sign: 1.5e-07, 2.0e+00.
  return text.replace(/e([+-])(\d+)$/, (_, sign, exp) => "e" + sign + exp.padStart(2, "0"));
}

// The significant digits of "1.25e-7" or "0.000125": "125".
function digitsOf(text) {
  return text.split("e")[0].replace(".", "").replace(/^0+/, "");
}

// Whether the long (100-digit, exact for any possible tie) expansion is `short` plus zeros.
function isExact(long, short) {
  return long.startsWith(short) && /^0*$/.test(long.slice(short.length));
}

// --- symbols: the same text as chainrule.explain.notation ----------------------------

const SUP = { "(": "⁽", ")": "⁾", n: "ⁿ" };
const SUB = { ",": ",", i: "ᵢ", j: "ⱼ", k: "ₖ", m: "ₘ", n: "ₙ" };
"0123456789".split("").forEach((d, i) => {
  SUP[d] = "⁰¹²³⁴⁵⁶⁷⁸⁹"[i];
  SUB[d] = "₀₁₂₃₄₅₆₇₈₉"[i];
});

function sup(text) {
  return String(text).split("").map((c) => SUP[c] || c).join("");
}

// Units are 0-based indices (written from 1) or letters; with any index ≥ 9, comma-separated.
function sub(...units) {
  const parts = units.map((u) => (typeof u === "number" ? String(u + 1) : u));
  const joiner = parts.some((p) => p.length > 1) ? "," : "";
  return parts.join(joiner).split("").map((c) => SUB[c] || c).join("");
}

// quantity("w", 1, [0, 0]) → "w¹₁₁"; an example in a batch is the superscript ⁽ⁿ⁾: a
// 0-based index, or a letter standing for any example.
function quantity(letter, layer, units, example) {
  const which = typeof example === "number" ? String(example + 1) : example;
  const upper = (layer === null ? "" : String(layer)) +
    (which === null || which === undefined ? "" : "(" + which + ")");
  return (letter === "delta" ? "δ" : letter) + sup(upper) + sub(...(units || []));
}

// "W1[0,1]" → {name: "W1", layer: 1, weight: true, index: [0, 1]}.
function parseKey(key) {
  const match = /^([Wb])(\d+)\[([\d,]+)\]$/.exec(key);
  if (!match) return null;
  return { name: match[1] + match[2], layer: Number(match[2]), weight: match[1] === "W",
    index: match[3].split(",").map(Number) };
}

function elementKey(name, index) {
  return name + "[" + index.join(",") + "]";
}

// --- DOM -----------------------------------------------------------------------------------

const SVG_NS = "http://www.w3.org/2000/svg";

// el("p", {class: "x", onclick: f}, "text", child): attributes, listeners, children (strings,
// nodes, arrays, or null to skip). Data only ever goes in as text, never as markup.
function build(node, attrs, children) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function el(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

function svg(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

// Bounded lists: long sums and vectors are cut with a note rather than flooding the panel.
function capped(items, limit) {
  return { shown: items.slice(0, limit), more: Math.max(0, items.length - limit) };
}
