using System.Numerics;
using CurvNative.Kernels;

namespace CurvNative.Cli.Bench;

/// <summary>
/// One kernel family at one size, bound to a backend: resident operands (factors, Jacobian, network weights) are
/// uploaded by <see cref="KernelWorkload{T}.Bind"/> and stay there; <see cref="BoundWorkload{T}.Run"/> is the timed
/// call, per-call operands and the result's download included.
/// </summary>
internal abstract class BoundWorkload<T> : IDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>One call of the family; returns its result on the host.</summary>
    public abstract T[] Run();
    /// <inheritdoc />
    public virtual void Dispose() { }
}

/// <summary>A kernel family's workload at one size, with its operands and its flop count.</summary>
internal abstract class KernelWorkload<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>gemm, kron, accumulate, woodbury, taylor.</summary>
    public abstract string Family { get; }
    /// <summary>The shape in words.</summary>
    public abstract string Shape { get; }
    /// <summary>Floating-point operations of one call (the useful ones: see each family).</summary>
    public abstract double Flops { get; }
    /// <summary>Uploads the resident operands to <paramref name="backend"/>.</summary>
    public abstract BoundWorkload<T> Bind(IKernelBackend backend);

    /// <summary>The families, in table order.</summary>
    public static readonly string[] Families = ["gemm", "kron", "accumulate", "woodbury", "taylor"];

    /// <summary>The workload of <paramref name="family"/> at size <paramref name="s"/>.</summary>
    public static KernelWorkload<T> Create(string family, int s) => family switch
    {
        "gemm" => new GemmWorkload<T>(s),
        "kron" => new KroneckerWorkload<T>(s),
        "accumulate" => new AccumulateWorkload<T>(s),
        "woodbury" => new WoodburyWorkload<T>(s),
        "taylor" => new TaylorWorkload<T>(s),
        _ => throw new ArgumentOutOfRangeException(nameof(family), $"Unknown family '{family}'."),
    };

    /// <summary>Uniform(-scale, scale) values from a fixed seed.</summary>
    protected static T[] Random(long n, int seed, double scale = 1)
    {
        var r = new Random(seed);
        var a = new T[n];
        for (long i = 0; i < n; i++) a[i] = T.CreateChecked((r.NextDouble() * 2 - 1) * scale);
        return a;
    }

    private sealed class Call(Func<T[]> run, params IDisposable[] resources) : BoundWorkload<T>
    {
        public override T[] Run() => run();
        public override void Dispose() { foreach (var r in resources) r.Dispose(); }
    }

    /// <summary>A bound workload from a call and the resources it holds.</summary>
    protected static BoundWorkload<T> Bound(Func<T[]> run, params IDisposable[] resources) => new Call(run, resources);
}

/// <summary>C [s, s] = A [s, s] B [s, s]: 2 s^3 flops.</summary>
internal sealed class GemmWorkload<T>(int s) : KernelWorkload<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly T[] _a = Random((long)s * s, 1), _b = Random((long)s * s, 2);
    public override string Family => "gemm";
    public override string Shape => $"{s} x {s} x {s}";
    public override double Flops => 2.0 * s * s * s;
    public override BoundWorkload<T> Bind(IKernelBackend backend) => Bound(() =>
    {
        var c = new T[(long)s * s];
        backend.Gemm(false, false, s, s, s, T.One, _a, _b, T.Zero, c);
        return c;
    });
}

/// <summary>
/// Y = (G kron A) V for K = 8 columns with G, A [s, s] resident (a KFAC layer's matvec): two GEMMs,
/// 2 K s^2 (s + s) flops.
/// </summary>
internal sealed class KroneckerWorkload<T>(int s) : KernelWorkload<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private const int K = 8;
    private readonly T[] _g = Random((long)s * s, 3), _a = Random((long)s * s, 4), _v = Random((long)K * s * s, 5);
    public override string Family => "kron";
    public override string Shape => $"G, A {s} x {s}, K = {K}";
    public override double Flops => 4.0 * K * s * s * s;
    public override BoundWorkload<T> Bind(IKernelBackend backend)
    {
        var g = backend.Upload<T>(_g); var a = backend.Upload<T>(_a);
        return Bound(() =>
        {
            var y = new T[_v.Length];
            backend.KroneckerMatmat(s, s, K, g, false, a, false, _v, y);
            return y;
        }, g, a);
    }
}

/// <summary>F = 0.9 F + (1/n) R^T R for R [2s, s] (KFAC's factor update): n d (d + 1) useful flops (the symmetric result).</summary>
internal sealed class AccumulateWorkload<T>(int s) : KernelWorkload<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly int _n = 2 * s;
    private readonly T[] _rows = Random(2L * s * s, 6), _f0 = Symmetric(s);
    private static T[] Symmetric(int d)
    {
        var f = Random((long)d * d, 7);
        for (int i = 0; i < d; i++) for (int j = 0; j < i; j++) f[(long)i * d + j] = f[(long)j * d + i];
        return f;
    }
    public override string Family => "accumulate";
    public override string Shape => $"R {_n} x {s}";
    public override double Flops => (double)_n * s * (s + 1);
    public override BoundWorkload<T> Bind(IKernelBackend backend) => Bound(() =>
    {
        var f = (T[])_f0.Clone();
        backend.AccumulateFactor(_n, s, T.One / T.CreateChecked(_n), _rows, T.CreateChecked(0.9), f);
        return f;
    });
}

/// <summary>
/// x = (lambda I + J^T J)^-1 g with J [s, 4s] resident and lambda = 0.1 (the PINN step's solve, N &lt; P):
/// 2 N^2 P (kernel) + N^3 / 3 (Cholesky) + 4 N P (the two products) flops.
/// </summary>
internal sealed class WoodburyWorkload<T>(int s) : KernelWorkload<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly int _p = 4 * s;
    private readonly T[] _j = Random(4L * s * s, 8, 1 / Math.Sqrt(4.0 * Math.Max(s, 1))), _g = Random(4L * s, 9);
    public override string Family => "woodbury";
    public override string Shape => $"J {s} x {_p}";
    public override double Flops => 2.0 * s * s * _p + s * (double)s * s / 3 + 4.0 * s * _p;
    public override BoundWorkload<T> Bind(IKernelBackend backend)
    {
        var j = backend.Upload<T>(_j);
        return Bound(() =>
        {
            var x = new T[_p];
            int info = backend.WoodburySolve(s, _p, j, T.CreateChecked(0.1), _g, x);
            if (info != 0) throw CliException.BadInput($"bench: the Woodbury kernel of backend {backend.Name} is not positive definite (leading minor {info}).");
            return x;
        }, j);
    }
}

/// <summary>
/// Values and Laplacians of a [16, s, s, 1] tanh network at 64 points (collapsed Taylor mode): the GEMM flops
/// 2 B (D + 2) sum_l w_l w_(l+1) (the activations' elementwise work is not counted).
/// </summary>
internal sealed class TaylorWorkload<T>(int s) : KernelWorkload<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private const int B = 64, D = 16;
    private readonly int[] _widths = [D, s, s, 1];
    private readonly T[] _x = Random((long)B * D, 10);
    private readonly T[][] _w = [Random((long)s * D, 11, 1 / Math.Sqrt(D)), Random((long)s * s, 12, 1 / Math.Sqrt(Math.Max(s, 1))), Random(s, 13, 1 / Math.Sqrt(Math.Max(s, 1)))];
    private readonly T[][] _b = [Random(s, 14), Random(s, 15), Random(1, 16)];
    private static readonly TaylorActivation[] Acts = [TaylorActivation.Tanh, TaylorActivation.Tanh, TaylorActivation.Identity];
    public override string Family => "taylor";
    public override string Shape => $"{B} points, widths {D}-{s}-{s}-1";
    public override double Flops => 2.0 * B * (D + 2) * ((double)D * s + (double)s * s + s);
    public override BoundWorkload<T> Bind(IKernelBackend backend)
    {
        var net = new TaylorNetwork<T>(backend, _widths, _w, _b, Acts);
        return Bound(() =>
        {
            var values = new T[B]; var laplacians = new T[B];
            backend.ForwardLaplacian(net, B, _x, values, laplacians);
            return [.. values, .. laplacians];
        }, net);
    }
}
