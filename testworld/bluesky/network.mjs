// Starts Bluesky's own PLC, PDS and AppView (from @atproto/dev-env) on loopback, for tests and
// the sandbox. Configuration comes as one JSON argument; when the network is up, one line
// "READY {json}" on stdout gives its URLs. A control server on loopback answers
//   GET  /info          the URLs again
//   POST /process-all   once the AppView has indexed everything the PDS has sequenced
//   POST /register-service {id, type, endpoint}
//                       a new did:plc whose document names that service (e.g. a chat service
//                       the PDS then proxies to, as it proxies to Bluesky's); answers {did}
//   POST /move-pds {did, endpoint}
//                       the account's DID document names another address for its PDS (as an
//                       account moved behind a proxy would): clients that follow the document
//                       after logging in, as Bluesky's SDKs do, then go there
// SIGTERM or SIGINT closes the network and exits.
import http from 'node:http'

// dev-env starts servers without a host, which binds every interface: bind them to loopback.
const listen = http.Server.prototype.listen
http.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' && typeof args[1] !== 'string') {
    args.splice(1, 0, '127.0.0.1')
  } else if (args[0] && typeof args[0] === 'object' && !args[0].host && !args[0].path) {
    args[0] = { ...args[0], host: '127.0.0.1' }
  }
  return listen.apply(this, args)
}

const config = JSON.parse(process.argv[2])
const { TestNetwork } = await import('@atproto/dev-env')
const plc = await import('@did-plc/lib')
const { Secp256k1Keypair } = await import('@atproto/crypto')
const network = await TestNetwork.create({
  dbPostgresUrl: config.postgresUrl,
  dbPostgresSchema: config.schema,
  plc: { port: config.plcPort },
  // Sessions carry the account's DID document, as bsky.social's do: clients then use the PDS
  // it names.
  pds: { port: config.pdsPort, hostname: 'localhost', enableDidDocWithSession: true },
  bsky: { port: config.bskyPort, publicUrl: `http://localhost:${config.bskyPort}` },
  ozone: { port: config.ozonePort },
})
const info = {
  plc: network.plc.url,
  pds: network.pds.url,
  appview: network.bsky.url,
  appviewDid: network.bsky.ctx.cfg.serverDid,
  ozone: network.ozone.url,
}

async function body(request) {
  const chunks = []
  for await (const chunk of request) chunks.push(chunk)
  return Buffer.concat(chunks).toString('utf8')
}

async function registerService({ id, type, endpoint }) {
  const key = await Secp256k1Keypair.create({ exportable: true })
  const operation = await plc.signOperation(
    {
      type: 'plc_operation',
      rotationKeys: [key.did()],
      verificationMethods: { atproto: key.did() },
      alsoKnownAs: [],
      services: { [id]: { type, endpoint } },
      prev: null,
    },
    key,
  )
  const did = await plc.didForCreateOp(operation)
  await new plc.Client(network.plc.url).sendOperation(did, operation)
  return did
}

async function movePds({ did, endpoint }) {
  // Signed with the PDS's own rotation key, as the PDS signs its accounts' operations.
  const client = new plc.Client(network.plc.url)
  const last = await client.getLastOp(did)
  const operation = await plc.updatePdsOp(last, network.pds.ctx.plcRotationKey, endpoint)
  await client.sendOperation(did, operation)
  await network.pds.ctx.idResolver.did.cache?.clearEntry(did) // sessions name the new address
}

const control = http.createServer(async (request, response) => {
  try {
    if (request.method === 'GET' && request.url === '/info') {
      response.writeHead(200, { 'content-type': 'application/json' })
      response.end(JSON.stringify(info))
    } else if (request.method === 'POST' && request.url === '/register-service') {
      const service = JSON.parse(await body(request))
      const did = await registerService(service)
      response.writeHead(200, { 'content-type': 'application/json' })
      response.end(JSON.stringify({ did }))
    } else if (request.method === 'POST' && request.url === '/move-pds') {
      await movePds(JSON.parse(await body(request)))
      response.writeHead(204)
      response.end()
    } else if (request.method === 'POST' && request.url === '/process-all') {
      await network.processAll()
      response.writeHead(204)
      response.end()
    } else {
      response.writeHead(404)
      response.end()
    }
  } catch (error) {
    response.writeHead(500, { 'content-type': 'text/plain' })
    response.end(String(error?.stack ?? error))
  }
})
await new Promise((resolve) => control.listen(config.controlPort, '127.0.0.1', resolve))
process.stdout.write(`READY ${JSON.stringify(info)}\n`)

let closing = false
async function shutdown() {
  if (closing) return
  closing = true
  control.close()
  await network.close()
  process.exit(0)
}
process.on('SIGTERM', shutdown)
process.on('SIGINT', shutdown)
