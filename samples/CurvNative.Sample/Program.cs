// A consumer of the CurvNative package: loads a PyTorch model handed over as files (model.json,
// weights.safetensors, data.safetensors), then computes a Hessian-vector product, KFAC's damped inverse applied
// to the gradient (a natural-gradient step) and the Hessian's top eigenvalue, and prints them.
//
//   dotnet run --project samples/CurvNative.Sample [-- MODEL_DIR]
//
// Each result is printed with a check a user would make (symmetry, residuals); the program exits with 1 when a
// check fails, so scripts/sample.sh can run it in CI.
using System.Globalization;
using CurvNative.Interop;
using CurvNative.NN.Training;
using CurvNative.Operators.Curvature;
using CurvNative.Operators.Curvature.Kfac;
using CurvNative.Solvers.Eigen;
using CurvNative.Tensors;

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
string dir = args.Length > 0 ? args[0] : Path.Combine(AppContext.BaseDirectory, "model");
var failures = new List<string>();
void Check(bool ok, string what)
{
    Console.WriteLine($"  check: {what}: {(ok ? "ok" : "FAILED")}");
    if (!ok) failures.Add(what);
}

// The package's buildTransitive props put CurvNative's GC settings into this application's runtimeconfig.json.
var regionSize = AppContext.GetData("System.GC.RegionSize");
Console.WriteLine($"GC region size from the package's settings: {regionSize ?? "(not set)"}");
Check(Convert.ToInt64(regionSize ?? 0L, CultureInfo.InvariantCulture) == 32L << 20, "System.GC.RegionSize is 32 MB");

var files = ModelFiles<double>.Load(Path.Combine(dir, "model.json"), Path.Combine(dir, "weights.safetensors"), Path.Combine(dir, "data.safetensors"));
var (model, loss, data) = (files.Model, files.Loss, files.Data);
int p = files.Parameters.Sum(q => q.Value.Length);
Console.WriteLine($"model: {files.Model.Parameters().Count()} parameter tensors, {p} parameters, loss {files.LossSpec.Type} ({files.LossSpec.Reduction}), {data.Count} samples");

// Hessian-vector product with a fixed random vector; a symmetric matrix has u' H v = v' H u.
var hessian = new HessianOperator<double>(model, loss, data);
var random = new Random(1);
Tensor<double> RandomVector() => Tensor<double>.FromArray(Enumerable.Range(0, p).Select(_ => random.NextDouble() * 2 - 1).ToArray(), p);
var v = RandomVector();
var u = RandomVector();
var hv = hessian.MatVec(v);
var hu = hessian.MatVec(u);
Console.WriteLine($"Hessian-vector product: ||v|| = {Norm(v):G6}, ||H v|| = {Norm(hv):G6}, v'Hv = {Dot(v, hv):G10}");
Check(Math.Abs(Dot(u, hv) - Dot(v, hu)) <= 1e-10 * Norm(u) * Norm(hv), "u'Hv = v'Hu");

// KFAC (type-2) with exact damping, its inverse applied to the gradient: x = (KFAC + lambda I)^-1 g.
const double damping = 1e-3;
var gradient = new DataSetObjective<double>(model, loss, data).Gradient();
var kfac = new KfacOperator<double>(model, loss, data, new KfacOptions { FisherType = FisherType.Type2 });
var x = kfac.Inverse(damping, KfacDamping.Exact).MatVec(gradient);
var residual = Subtract(Add(kfac.MatVec(x), Scale(x, damping)), gradient);
Console.WriteLine($"KFAC inverse applied to the gradient: ||g|| = {Norm(gradient):G6}, ||(KFAC + {damping} I)^-1 g|| = {Norm(x):G6}, g'x = {Dot(gradient, x):G10}");
Check(Norm(residual) <= 1e-8 * Norm(gradient), $"||(KFAC + {damping} I) x - g|| / ||g|| = {Norm(residual) / Norm(gradient):G3} <= 1e-8");

// The Hessian's largest eigenvalue by Lanczos, with the residual of its eigenpair recomputed here.
var eigs = Lanczos.Eigs(hessian, 1, EigenWhich.Largest, new LanczosOptions { Tolerance = 1e-8, Seed = 0 });
double lambda = eigs.Eigenvalues[0];
var w = eigs.Eigenvectors.Reshape(p);
double eigResidual = Norm(Subtract(hessian.MatVec(w), Scale(w, lambda)));
Console.WriteLine($"top Hessian eigenvalue: {lambda:G10} ({eigs.MatVecs} Hessian-vector products, converged: {eigs.Converged})");
Check(eigs.Converged && eigResidual <= 1e-6 * Math.Abs(lambda), $"||H w - lambda w|| / |lambda| = {eigResidual / Math.Abs(lambda):G3} <= 1e-6");

Console.WriteLine(failures.Count == 0 ? "sample: all checks passed" : $"sample: {failures.Count} check(s) failed: {string.Join("; ", failures)}");
return failures.Count == 0 ? 0 : 1;

static double Dot(Tensor<double> a, Tensor<double> b)
{
    double s = 0;
    for (int i = 0; i < a.Length; i++) s += a.Span[i] * b.Span[i];
    return s;
}

static double Norm(Tensor<double> a) => Math.Sqrt(Dot(a, a));

static Tensor<double> Scale(Tensor<double> a, double c) => Tensor<double>.FromArray(a.Span.ToArray().Select(e => e * c).ToArray(), a.Length);

static Tensor<double> Add(Tensor<double> a, Tensor<double> b) => Tensor<double>.FromArray(a.Span.ToArray().Zip(b.Span.ToArray(), (e, f) => e + f).ToArray(), a.Length);

static Tensor<double> Subtract(Tensor<double> a, Tensor<double> b) => Add(a, Scale(b, -1));
