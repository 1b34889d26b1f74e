// The upload form, with drag and drop and a progress bar. Without this script the form
// posts as it is: the server answers both the same way (off to what the archive holds).
"use strict";

(() => {
  const form = document.querySelector("form[data-upload]");
  if (!form || !window.FormData || !window.DOMParser) return;
  const input = form.querySelector("input[type=file]");
  const button = form.querySelector("button[type=submit]");
  const zone = document.getElementById("drop");
  const bar = document.getElementById("upload-progress");
  const status = document.getElementById("upload-status");
  const say = (text) => { status.textContent = text; };

  zone.hidden = false;
  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (event) => {
      event.preventDefault();
      zone.classList.add("over");
    });
  }
  for (const type of ["dragleave", "drop"]) {
    zone.addEventListener(type, (event) => {
      event.preventDefault();
      zone.classList.remove("over");
    });
  }
  zone.addEventListener("drop", (event) => {
    if (event.dataTransfer.files.length === 0) return;
    input.files = event.dataTransfer.files;
    send();
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    send();
  });

  // The server's own words when it refuses the file (the paragraphs of its page).
  const refusal = (html) => {
    const page = new DOMParser().parseFromString(html, "text/html");
    return [...page.querySelectorAll("main p")].map((p) => p.textContent).join(" ");
  };

  const refused = (html) => {
    bar.hidden = true;
    button.disabled = false;
    say(refusal(html) || form.dataset.failed);
  };

  // The archive's page says "reading" until a work process has read it: asked again until
  // it shows what the archive holds (then opened) or why it is refused (said here).
  const waiting = (html) => html.includes('http-equiv="refresh"');
  async function settle(url, html) {
    try {
      let status = 200;
      while (waiting(html)) {
        await new Promise((done) => setTimeout(done, 1000));
        const response = await fetch(url, { credentials: "same-origin" });
        status = response.status;
        html = await response.text();
      }
      if (status === 200) {
        window.location.assign(url);
      } else {
        refused(html);
      }
    } catch {
      refused("");
    }
  }

  function send() {
    const file = input.files[0];
    if (!file) {
      input.focus();
      return;
    }
    const data = new FormData();
    data.append("archive", file, file.name);
    const request = new XMLHttpRequest();
    request.open("POST", window.location.href);
    request.upload.addEventListener("progress", (event) => {
      if (!event.lengthComputable) return;
      const percent = Math.floor((100 * event.loaded) / event.total);
      bar.value = percent;
      say(form.dataset.sending.replace("{percent}", percent));
    });
    request.upload.addEventListener("load", () => say(form.dataset.reading));
    request.addEventListener("load", () => {
      const moved = request.responseURL && request.responseURL !== window.location.href;
      if (request.status === 200 && moved) {
        settle(request.responseURL, request.responseText);
        return;
      }
      refused(request.responseText);
    });
    request.addEventListener("error", () => {
      bar.hidden = true;
      button.disabled = false;
      say(form.dataset.failed);
    });
    bar.value = 0;
    bar.hidden = false;
    button.disabled = true;
    request.send(data);
  }
})();
