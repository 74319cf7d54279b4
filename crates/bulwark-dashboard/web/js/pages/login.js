import * as api from "../api.js";
import { h } from "../dom.js";
import { failed, notify, signedIn } from "../app.js";

export async function render() {
  const name = h("input", { id: "login-name", name: "username", autocomplete: "username", required: true });
  const password = h("input", {
    id: "login-password",
    name: "password",
    type: "password",
    autocomplete: "current-password",
    required: true,
  });
  const button = h("button", { type: "submit", id: "login-submit" }, "Log in");
  const form = h(
    "form",
    {
      class: "card login",
      onsubmit: async (ev) => {
        ev.preventDefault();
        button.disabled = true;
        try {
          await api.login(name.value, password.value);
          await signedIn();
        } catch (err) {
          password.value = "";
          if (err instanceof api.ApiError && (err.status === 401 || err.status === 429)) {
            notify(`Log in failed: ${err.message}`, "error");
          } else {
            failed(err, "Log in");
          }
        } finally {
          button.disabled = false;
        }
      },
    },
    h("h1", {}, "Log in to Bulwark"),
    h("label", { for: "login-name" }, "User"),
    name,
    h("label", { for: "login-password" }, "Password"),
    password,
    button,
  );
  return form;
}
