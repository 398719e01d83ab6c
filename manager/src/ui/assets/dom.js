// DOM helpers shared by the dashboard's pages. Everything from the API goes into the page
// as text nodes or attribute values, never as HTML: object fields are user input.
"use strict";

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const c of children) e.append(c instanceof Node ? c : String(c ?? "—"));
  return e;
}
