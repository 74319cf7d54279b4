// Element builders. Everything that comes from the API ends up in a text
// node or an attribute value set with setAttribute: nothing is ever parsed as
// HTML, and the CSP's Trusted Types would refuse it if it were.

const SVG_NS = "http://www.w3.org/2000/svg";

// Links and sources may only point inside the dashboard or the API: a URL
// with a scheme (a script URL, another site) from the API never becomes a link.
function safeUrl(value) {
  const text = String(value);
  if (text.startsWith("#") || (text.startsWith("/") && !text.startsWith("//"))) {
    return text;
  }
  throw new Error("refusing a link outside the dashboard: " + text);
}

function build(el, attrs, children) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) {
      continue;
    }
    if (typeof value === "function") {
      if (!name.startsWith("on")) {
        throw new Error("function for attribute " + name);
      }
      el.addEventListener(name.slice(2), value);
      continue;
    }
    if (/^on/i.test(name)) {
      throw new Error("event handler attributes are not allowed: " + name);
    }
    const text = value === true ? "" : String(value);
    el.setAttribute(name, name === "href" || name === "src" ? safeUrl(text) : text);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) {
      continue;
    }
    el.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

// h("td", {class: "x"}, "text", otherNode)
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

// The same for SVG elements.
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

// Replaces the content of `el`.
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

// A table from column titles and rows of cells.
export function table(columns, rows, attrs) {
  return h(
    "table",
    attrs || {},
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows),
  );
}

export function section(title, ...children) {
  return h("section", { class: "card" }, h("h2", {}, title), children);
}

// An "older ..." button under a newest-first list paged by `seq`: loads the
// page before the oldest item shown, hands each item to `append`, and hides
// itself once a page comes back short.
export function olderButton(label, firstPage, size, load, append, onError) {
  let oldest = firstPage.length ? firstPage[firstPage.length - 1].seq : null;
  const button = h(
    "button",
    {
      type: "button",
      hidden: firstPage.length < size,
      onclick: async () => {
        try {
          const page = await load(oldest);
          page.forEach(append);
          if (page.length) {
            oldest = page[page.length - 1].seq;
          }
          button.hidden = page.length < size;
        } catch (err) {
          onError(err);
        }
      },
    },
    label,
  );
  return button;
}
