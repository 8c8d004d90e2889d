// Security keys and passkeys (W3C Web Authentication, issue 10). A form with
// data-webauthn="create" (add a key) or "get" (sign in with one) carries the server's options
// as JSON in data-options. On submit this asks the browser for the credential, puts the
// response (the JSON form py_webauthn reads) in the hidden "credential" field and submits the
// form to the server, which verifies it. Same-origin file: the pages' CSP allows no inline
// script.
(function () {
  "use strict";

  function toBytes(b64url) {
    var b64 = b64url.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) b64 += "=";
    var raw = atob(b64);
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out.buffer;
  }

  function toB64url(buffer) {
    if (!buffer) return null;
    var bytes = new Uint8Array(buffer);
    var text = "";
    for (var i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]);
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (d) {
      var out = { type: d.type, id: toBytes(d.id) };
      if (d.transports) out.transports = d.transports;
      return out;
    });
  }

  function creationOptions(o) {
    var out = Object.assign({}, o);
    out.challenge = toBytes(o.challenge);
    out.user = Object.assign({}, o.user, { id: toBytes(o.user.id) });
    out.excludeCredentials = descriptors(o.excludeCredentials);
    return out;
  }

  function requestOptions(o) {
    var out = Object.assign({}, o);
    out.challenge = toBytes(o.challenge);
    out.allowCredentials = descriptors(o.allowCredentials);
    return out;
  }

  function serialize(cred) {
    var r = cred.response;
    var response = { clientDataJSON: toB64url(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toB64url(r.attestationObject);
      response.transports = typeof r.getTransports === "function" ? r.getTransports() : [];
    } else {
      response.authenticatorData = toB64url(r.authenticatorData);
      response.signature = toB64url(r.signature);
      response.userHandle = toB64url(r.userHandle);
    }
    return JSON.stringify({
      id: cred.id,
      rawId: toB64url(cred.rawId),
      type: cred.type,
      response: response,
      authenticatorAttachment: cred.authenticatorAttachment || null,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
    });
  }

  function setUp(form) {
    var mode = form.getAttribute("data-webauthn");
    var field = form.querySelector("input[name=credential]");
    var problem = form.querySelector(".error[role=alert]");
    var busy = false;

    function say(text) {
      if (!problem) return;
      problem.textContent = text;
      problem.hidden = false;
    }

    form.addEventListener("submit", function (event) {
      if (field.value) return; // the response is in: let the form go
      event.preventDefault();
      if (busy || !form.reportValidity()) return;
      if (!window.PublicKeyCredential || !navigator.credentials) {
        say(form.getAttribute("data-text-unsupported"));
        return;
      }
      var options = JSON.parse(form.getAttribute("data-options"));
      busy = true;
      var asked = mode === "create"
        ? navigator.credentials.create({ publicKey: creationOptions(options) })
        : navigator.credentials.get({ publicKey: requestOptions(options) });
      asked.then(function (cred) {
        field.value = serialize(cred);
        form.submit();
      }, function () {
        busy = false;
        say(form.getAttribute("data-text-failed"));
      });
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("form[data-webauthn]"), setUp);
})();
