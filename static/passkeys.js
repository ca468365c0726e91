// Passkeys for Portcullis: the WebAuthn ceremonies behind "Add a passkey" on the
// account page, "Sign in with a passkey" on the sign-in page, and the passkey button
// on the second-factor page. Every page works without this script: what needs it is
// `hidden` until the script finds a browser that can do passkeys and shows it.
//
// Each ceremony is: POST .../begin (JSON, with the page's CSRF token) for the options,
// navigator.credentials.create/get, POST .../finish with the browser's answer, then
// follow the `redirect` in the JSON answer. A refusal's `message` is shown as it is.
(function () {
  "use strict";

  var supported = !!(window.PublicKeyCredential && navigator.credentials &&
    navigator.credentials.create && navigator.credentials.get);

  function fromB64url(s) {
    var b64 = s.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) { b64 += "="; }
    var bin = atob(b64);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { out[i] = bin.charCodeAt(i); }
    return out.buffer;
  }

  function toB64url(buf) {
    if (!buf) { return null; }
    var bytes = new Uint8Array(buf);
    var bin = "";
    for (var i = 0; i < bytes.length; i++) { bin += String.fromCharCode(bytes[i]); }
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function csrfToken() {
    var field = document.querySelector("input[name=csrf]");
    return field ? field.value : "";
  }

  // A refusal whose message is meant for the person.
  function Refusal(message) { this.message = message; }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (response.status === 429 && !data.message) {
          throw new Refusal("Too many attempts from here. Wait a minute, then try again.");
        }
        if (!response.ok) {
          throw new Refusal(data.message || "Something went wrong on our side. Please try again.");
        }
        return data;
      });
    }, function () {
      throw new Refusal("We could not reach the server. Check your connection and try again.");
    });
  }

  function creationOptions(options) {
    var pk = options.publicKey;
    pk.challenge = fromB64url(pk.challenge);
    pk.user.id = fromB64url(pk.user.id);
    (pk.excludeCredentials || []).forEach(function (c) { c.id = fromB64url(c.id); });
    return { publicKey: pk };
  }

  function requestOptions(options) {
    var pk = options.publicKey;
    pk.challenge = fromB64url(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) { c.id = fromB64url(c.id); });
    return { publicKey: pk };
  }

  function extensions(credential) {
    try { return credential.getClientExtensionResults() || {}; } catch (e) { return {}; }
  }

  function attestation(credential) {
    var r = credential.response;
    return {
      id: credential.id,
      rawId: toB64url(credential.rawId),
      type: credential.type,
      response: {
        attestationObject: toB64url(r.attestationObject),
        clientDataJSON: toB64url(r.clientDataJSON),
        transports: r.getTransports ? r.getTransports() : undefined
      },
      clientExtensionResults: extensions(credential)
    };
  }

  function assertion(credential) {
    var r = credential.response;
    return {
      id: credential.id,
      rawId: toB64url(credential.rawId),
      type: credential.type,
      response: {
        authenticatorData: toB64url(r.authenticatorData),
        clientDataJSON: toB64url(r.clientDataJSON),
        signature: toB64url(r.signature),
        userHandle: toB64url(r.userHandle)
      },
      clientExtensionResults: extensions(credential)
    };
  }

  // Follows the server's `redirect`; one to this very page (the account page after a
  // passkey was added) reloads it, which a change of the fragment alone would not.
  function go(url) {
    var target = new URL(url, window.location.href);
    var here = window.location;
    if (target.pathname === here.pathname && target.search === here.search) {
      here.hash = target.hash;
      here.reload();
    } else {
      here.assign(target.href);
    }
  }

  // What a failed browser-side step tells the person; `otherWays` names the rest.
  function browserFailure(error, otherWays) {
    if (error instanceof Refusal) { return error.message; }
    var name = error && error.name;
    if (name === "NotAllowedError" || name === "AbortError") {
      return "The passkey was not used: the request was cancelled or timed out. " + otherWays;
    }
    if (name === "InvalidStateError") {
      return "This device already has a passkey for your account. Use it, or add one on another device.";
    }
    if (name === "SecurityError") {
      return "This browser refused passkeys for this site. " + otherWays;
    }
    return "Something went wrong with the passkey. " + otherWays;
  }

  function errorBox(block) {
    var box = block.querySelector("[data-passkey-error]");
    if (!box) {
      box = document.createElement("p");
      box.className = "alert";
      box.setAttribute("role", "alert");
      box.setAttribute("data-passkey-error", "");
      box.hidden = true;
      block.insertBefore(box, block.firstChild);
    }
    return box;
  }

  function say(box, message) {
    box.textContent = message;
    box.hidden = false;
  }

  // A sign-in with a passkey (passwordless, or as the second factor) from `block`.
  function signInWith(block, base, otherWays) {
    var button = block.querySelector("button");
    if (!button) { return; }
    block.hidden = false;
    button.addEventListener("click", function () {
      var box = errorBox(block);
      box.hidden = true;
      button.disabled = true;
      var request = block.getAttribute("data-request") || null;
      post(base + "/begin", { csrf: csrfToken(), request: request })
        .then(function (options) { return navigator.credentials.get(requestOptions(options)); })
        .then(function (credential) {
          if (!credential) { throw new Refusal("The passkey was not used. " + otherWays); }
          return post(base + "/finish", { csrf: csrfToken(), credential: assertion(credential) });
        })
        .then(function (answer) { go(answer.redirect); })
        .catch(function (error) {
          say(box, browserFailure(error, otherWays));
          button.disabled = false;
        });
    });
  }

  function register(block) {
    var form = block.querySelector("form");
    var name = block.querySelector("#passkey-name");
    var box = block.querySelector("#passkey-name-error");
    var button = form && form.querySelector("button");
    if (!form || !name || !box || !button) { return; }
    block.hidden = false;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      box.hidden = true;
      name.removeAttribute("aria-invalid");
      name.setAttribute("aria-describedby", "passkey-name-hint");
      button.disabled = true;
      var otherWays = "Try again.";
      post("/account/passkeys/begin", { csrf: csrfToken(), name: name.value })
        .then(function (options) { return navigator.credentials.create(creationOptions(options)); })
        .then(function (credential) {
          if (!credential) { throw new Refusal("No passkey was made. " + otherWays); }
          return post("/account/passkeys/finish", { csrf: csrfToken(), credential: attestation(credential) });
        })
        .then(function (answer) { go(answer.redirect); })
        .catch(function (error) {
          say(box, browserFailure(error, otherWays));
          name.setAttribute("aria-invalid", "true");
          name.setAttribute("aria-describedby", "passkey-name-hint passkey-name-error");
          button.disabled = false;
        });
    });
  }

  function start() {
    var needsJs = document.getElementById("passkey-needs-js");
    if (!supported) {
      if (needsJs) { needsJs.textContent = "This browser cannot make passkeys. Everything else on this page works without them."; }
      return;
    }
    if (needsJs) { needsJs.hidden = true; }
    var registering = document.getElementById("passkey-register");
    if (registering) { register(registering); }
    var passwordless = document.getElementById("passkey-sign-in");
    if (passwordless) {
      signInWith(passwordless, "/login/passkey", "Sign in with your password instead, or try again.");
    }
    var second = document.getElementById("passkey-second-factor");
    if (second) {
      signInWith(second, "/login/second-factor/passkey",
        "Use a code from your authenticator app or a recovery code instead, or try again.");
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
