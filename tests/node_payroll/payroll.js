// The Node.js payroll system's side of the shared database, written to its spec: ObjectId references
// (branchId, employeeId) to _id, money read as Number. Run by tests/test_node_payroll.py:
//   node payroll.js MONGODB_URL seed-owners   insert Branch/Employee documents the Node way
//   node payroll.js MONGODB_URL seed-history  insert a history document the Node way
//   node payroll.js MONGODB_URL report        print what the payroll side reads, as JSON
// The schemas are the README's example ("Sharing the database with the Node payroll system").
'use strict';

const mongoose = require('mongoose');

const { Schema } = mongoose;
const { ObjectId } = Schema.Types;

// regos-admin stores money as Decimal128 (exact to the tiyin). Read as a Number in hydrated documents;
// documents written by this side itself may hold a plain Number, which the getter passes through.
const money = {
  type: Schema.Types.Decimal128,
  default: 0,
  get: (value) => (value == null ? 0 : Number(value.toString())),
};
const options = { toJSON: { getters: true }, toObject: { getters: true } };

const Branch = mongoose.model('Branch', new Schema({
  name: String,
  code: String,
  isActive: Boolean,
  retailSales: money,
  wholesaleSales: money,
  totalSales: money,
  totalsMonth: Date,
}, options), 'branches');

const Employee = mongoose.model('Employee', new Schema({
  fullName: String,
  branchId: { type: ObjectId, ref: 'Branch' },
  isActive: Boolean,
  dailySales: money,
  wholesaleSales: money,
  salesDate: Date,
}, options), 'employees');

const DailySalesHistory = mongoose.model('DailySalesHistory', new Schema({
  date: Date,
  branchId: { type: ObjectId, ref: 'Branch' },
  employeeId: { type: ObjectId, ref: 'Employee' },
  employeeKey: String,
  retailSales: money,
  retailReturns: money,
  wholesaleSales: money,
  wholesaleReturns: money,
  totalSales: money,
  chequeCount: Number,
}, options), 'dailysaleshistories');

// Month totals per branch and employee, for every month with sales ("2026-11").
const MonthlySales = mongoose.model('MonthlySales', new Schema({
  month: String,
  branchId: { type: ObjectId, ref: 'Branch' },
  employeeId: { type: ObjectId, ref: 'Employee' },
  employeeKey: String,
  retailSales: money,
  retailReturns: money,
  wholesaleSales: money,
  wholesaleReturns: money,
  totalSales: money,
  chequeCount: Number,
}, options), 'monthlysales');

const FIGURES = ['retailSales', 'retailReturns', 'wholesaleSales', 'wholesaleReturns', 'totalSales'];

// Exact sums: a Decimal128 (or Number) figure to integer tiyin and back.
function tiyin(value) {
  const text = value == null ? '0' : value.toString();
  const negative = text.startsWith('-');
  const [whole, fraction = ''] = text.replace('-', '').split('.');
  const cents = BigInt(whole || '0') * 100n + BigInt((fraction + '00').slice(0, 2));
  return negative ? -cents : cents;
}

function amount(cents) {
  const negative = cents < 0n;
  const absolute = negative ? -cents : cents;
  const text = `${absolute / 100n}.${String(absolute % 100n).padStart(2, '0')}`;
  return negative ? `-${text}` : text;
}

function add(table, month, key, figures) {
  table[month] ??= {};
  const row = (table[month][key] ??= Object.fromEntries(FIGURES.map((f) => [f, 0n])));
  for (const f of FIGURES) row[f] += figures[f];
}

function printable(table) {
  const out = {};
  for (const [month, rows] of Object.entries(table)) {
    out[month] = {};
    for (const [key, row] of Object.entries(rows)) {
      out[month][key] = Object.fromEntries(FIGURES.map((f) => [f, amount(row[f])]));
    }
  }
  return out;
}

async function seedOwners() {
  // A branch and an employee that already exist on the Node side under the names REGOS uses: the
  // sync must adopt them (same _id), not create namesakes. Plus documents it has never heard of.
  const stock = await mongoose.connection.db.collection('sync_stockmapping').find().sort({ regos_stock_id: 1 }).next();
  const user = await mongoose.connection.db.collection('sync_sellermapping').find().sort({ regos_user_id: 1 }).next();
  const collections = mongoose.connection.db;
  const branch = await collections.collection('branches').insertOne({
    name: stock.regos_name, manager: 'Dilnoza Karimova', retailSales: 0, wholesaleSales: 0, totalSales: 0,
  });
  const hq = await collections.collection('branches').insertOne({ name: 'Bosh ofis (Node)', rent: 12000000.5 });
  const employee = await collections.collection('employees').insertOne({
    fullName: user.full_name, phone: '+998901234567', dailySales: 0, wholesaleSales: 0, salary: { base: 3500000 },
  });
  const clerk = await collections.collection('employees').insertOne({ name: 'Hisobchi (Node)', position: 'accountant' });
  return {
    branchId: branch.insertedId.toString(), hqId: hq.insertedId.toString(),
    employeeId: employee.insertedId.toString(), clerkId: clerk.insertedId.toString(),
    branchName: stock.regos_name, employeeName: user.full_name,
  };
}

async function seedHistory(day, branchId) {
  // The spec's own write: { branchId, retailSales: 5000000, wholesaleSales: 0 } (Numbers), by the Node side.
  const inserted = await mongoose.connection.db.collection('dailysaleshistories').insertOne({
    date: new Date(`${day}T00:00:00Z`), branchId: new mongoose.Types.ObjectId(branchId),
    retailSales: 5000000, wholesaleSales: 0, note: 'manual correction',
  });
  return { historyId: inserted.insertedId.toString() };
}

async function report() {
  const branches = await Branch.find().lean({ getters: true });
  const employees = await Employee.find().populate('branchId');
  const rows = await DailySalesHistory.find().populate('branchId').populate('employeeId');
  const own = rows.filter((row) => row.employeeKey != null);

  // Month totals the way a payroll written against hydrated documents would: follow the links.
  const byBranch = {};
  const byEmployee = {};
  let missingBranch = 0;
  let missingEmployee = 0;
  for (const row of own) {
    if (!row.branchId || !row.branchId.name) missingBranch += 1;
    if (row.employeeKey !== 'unassigned' && (!row.employeeId || !row.employeeId.fullName)) missingEmployee += 1;
    const month = row.date.toISOString().slice(0, 7);
    const raw = row.toObject({ getters: false });
    const figures = Object.fromEntries(FIGURES.map((f) => [f, tiyin(raw[f])]));
    add(byBranch, month, row.branchId ? row.branchId.name : '?', figures);
    add(byEmployee, month, row.employeeId ? row.employeeId.fullName : '', figures);
  }

  // The same by the server: $group on the ObjectId references, $sum of Decimal128 (exact).
  const grouped = await DailySalesHistory.aggregate([
    { $match: { employeeKey: { $exists: true } } },
    {
      $group: {
        _id: { branchId: '$branchId', employeeId: '$employeeId', date: '$date' },
        ...Object.fromEntries(FIGURES.map((f) => [f, { $sum: `$${f}` }])),
      },
    },
  ]);
  const branchNames = new Map(branches.map((b) => [b._id.toString(), b.name]));
  const employeeNames = new Map(employees.map((e) => [e._id.toString(), e.fullName]));
  const aggBranch = {};
  const aggEmployee = {};
  let nullGroups = 0;
  for (const group of grouped) {
    if (group._id.branchId == null) nullGroups += 1;
    const month = group._id.date.toISOString().slice(0, 7);
    const figures = Object.fromEntries(FIGURES.map((f) => [f, tiyin(group[f])]));
    add(aggBranch, month, branchNames.get(String(group._id.branchId)) ?? '?', figures);
    add(aggEmployee, month, group._id.employeeId ? employeeNames.get(String(group._id.employeeId)) : '', figures);
  }

  // The ready-made month totals: find({month}) with populate.
  const monthBranch = {};
  const monthEmployee = {};
  for (const month of Object.keys(byBranch)) {
    for (const line of await MonthlySales.find({ month }).populate('branchId').populate('employeeId')) {
      const raw = line.toObject({ getters: false });
      const figures = Object.fromEntries(FIGURES.map((f) => [f, tiyin(raw[f])]));
      add(monthBranch, month, line.branchId ? line.branchId.name : '?', figures);
      add(monthEmployee, month, line.employeeId ? line.employeeId.fullName : '', figures);
    }
  }

  // find({branchId}) — the spec's own query — for every branch.
  let historyByBranchQuery = 0;
  for (const branch of branches) historyByBranchQuery += await DailySalesHistory.countDocuments({ branchId: branch._id, employeeKey: { $exists: true } });

  const employeesWithBranch = employees.filter((e) => e.branchId && e.branchId.name).length;
  return {
    mongoose: mongoose.version,
    counts: { branches: branches.length, employees: employees.length, history: rows.length, ownHistory: own.length },
    links: { missingBranch, missingEmployee, nullGroups, historyByBranchQuery, employeesWithBranch },
    hydrated: { byBranch: printable(byBranch), byEmployee: printable(byEmployee) },
    aggregate: { byBranch: printable(aggBranch), byEmployee: printable(aggEmployee) },
    monthlysales: { byBranch: printable(monthBranch), byEmployee: printable(monthEmployee) },
    raw: {
      branches: await mongoose.connection.db.collection('branches').find().toArray(),
      employees: await mongoose.connection.db.collection('employees').find().toArray(),
      foreignHistory: await mongoose.connection.db.collection('dailysaleshistories').find({ employeeKey: { $exists: false } }).toArray(),
    },
    hydratedBranches: (await Branch.find()).map((b) => b.toJSON()),
  };
}

async function main() {
  const [url, command, ...args] = process.argv.slice(2);
  await mongoose.connect(url, { serverSelectionTimeoutMS: 10000 });
  try {
    let result;
    if (command === 'seed-owners') result = await seedOwners();
    else if (command === 'seed-history') result = await seedHistory(...args);
    else if (command === 'report') result = await report();
    else throw new Error(`unknown command ${command}`);
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await mongoose.disconnect();
  }
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(1);
});
