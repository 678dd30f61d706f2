using System.Numerics;
using CurvNative.Operators;
using CurvNative.Tensors;

namespace CurvNative.Tests.Operators;

/// <summary>An operator under test and its independent dense reference.</summary>
public sealed record OperatorCase<T>(LinearOperator<T> Op, Ref Ref) where T : unmanaged, IFloatingPointIeee754<T>;

/// <summary>
/// A test-only operator that knows nothing but its two products (naive loops over a double matrix):
/// it exercises the default ToDense (identity columns), the lazy transpose node and composition.
/// Counts its products so tests can check how often a parent is applied.
/// </summary>
public sealed class CallbackOperator<T> : LinearOperator<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly double[,] _m;

    public CallbackOperator(double[,] m, Space? outputSpace = null, Space? inputSpace = null, bool isSymmetric = false)
        : base(outputSpace ?? Space.Flat(m.GetLength(0)), inputSpace ?? Space.Flat(m.GetLength(1)), isSymmetric)
        => _m = m;

    public int Products { get; private set; }

    protected override Tensor<T> MatMatCore(Tensor<T> x) { Products++; return Multiply(_m, x); }

    protected override Tensor<T> TransposeMatMatCore(Tensor<T> x) { Products++; return Multiply(Dense.Transpose(_m), x); }

    private static Tensor<T> Multiply(double[,] m, Tensor<T> x)
    {
        var xd = Dense.FromTensor(x);
        return Dense.ToTensor<T>(Dense.MatMul(m, xd));
    }
}

/// <summary>The operators every contract test runs over: structured, composite and awkward sizes (1, 17).</summary>
public static class OperatorFactories
{
    public static IEnumerable<string> Names => OperatorFactories<double>.All.Keys;

    /// <summary>A seed that is stable across processes (string.GetHashCode is randomised).</summary>
    public static int Seed(string name, int salt = 0)
    {
        unchecked
        {
            int h = (int)2166136261 + salt;
            foreach (var c in name) h = (h ^ c) * 16777619;
            return h & 0x7fffffff;
        }
    }

    public static OperatorCase<T> Create<T>(string name, int salt = 0) where T : unmanaged, IFloatingPointIeee754<T>
        => OperatorFactories<T>.All[name](new Random(Seed(name, salt)));
}

public static class OperatorFactories<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private static readonly Space Blocks4 = new([2, 3], [4], [1], [5]); // dimension 16

    public static readonly IReadOnlyDictionary<string, Func<Random, OperatorCase<T>>> All = new Dictionary<string, Func<Random, OperatorCase<T>>>
    {
        ["identity-1"] = _ => new(new IdentityOperator<T>(1), Ref.Exact(Dense.Identity(1))),
        ["identity-blocks"] = _ => new(new IdentityOperator<T>(new Space([3, 2], [4])), Ref.Exact(Dense.Identity(10))),
        ["diagonal-17"] = rng => Diagonal(rng, 17, -1, 1, null),
        ["diagonal-1"] = rng => Diagonal(rng, 1, -1, 1, null),
        ["diagonal-psd-blocks"] = rng => Diagonal(rng, 7, 0, 2, new Space([2, 3], [1])),
        ["dense-1x1"] = rng => DenseCase(rng, 1, 1),
        ["dense-17x17"] = rng => DenseCase(rng, 17, 17),
        ["dense-1x17"] = rng => DenseCase(rng, 1, 17),
        ["dense-17x1"] = rng => DenseCase(rng, 17, 1),
        ["dense-5x6-blocks"] = rng => DenseCase(rng, 5, 6, new Space([5]), new Space([3, 1], [2], [])),
        ["dense-spd-6"] = rng => Spd(rng, 6, null),
        ["dense-transposed-4x7"] = rng => { var c = DenseCase(rng, 4, 7); return new(c.Op.Transpose(), c.Ref.T()); },
        ["kron-3x3-4x4"] = rng => Kron(rng, 3, 3, 4, 4),
        ["kron-2x3-4x5"] = rng => Kron(rng, 2, 3, 4, 5),
        ["kron-1x1-17x17"] = rng => Kron(rng, 1, 1, 17, 17),
        ["kron-17x1-1x1"] = rng => Kron(rng, 17, 1, 1, 1),
        ["kron-psd-3-2"] = rng =>
        {
            var (a, ar) = SpdMatrix(rng, 3);
            var (b, br) = SpdMatrix(rng, 2);
            return new(new KroneckerOperator<T>(a, b, isPositiveSemiDefinite: true), Ref.Exact(Dense.Kron(ar, br)));
        },
        ["kron-transposed"] = rng => { var c = Kron(rng, 2, 3, 4, 5); return new(c.Op.Transpose(), c.Ref.T()); },
        ["kron-composed"] = rng =>
        {
            var x = Kron(rng, 2, 3, 4, 5);
            var y = Kron(rng, 3, 2, 5, 3);
            return new(x.Op * y.Op, x.Ref * y.Ref);
        },
        ["blockdiag-rect"] = rng =>
        {
            var a = DenseCase(rng, 2, 3);
            var b = Diagonal(rng, 4, -1, 1, null);
            var c = Kron(rng, 2, 1, 3, 2);
            return new(new BlockDiagonalOperator<T>(a.Op, b.Op, c.Op),
                Ref.Exact(Dense.BlockDiagonal(a.Ref.Value, b.Ref.Value, c.Ref.Value)));
        },
        ["blockdiag-psd"] = rng =>
        {
            var s = Spd(rng, 3, null);
            return new(new BlockDiagonalOperator<T>(new IdentityOperator<T>(2), s.Op),
                Ref.Exact(Dense.BlockDiagonal(Dense.Identity(2), s.Ref.Value)));
        },
        ["blockdiag-scaled"] = rng =>
        {
            var a = DenseCase(rng, 3, 2);
            var b = Kron(rng, 2, 2, 2, 1);
            var alpha = T.CreateTruncating(2.5);
            return new(alpha * new BlockDiagonalOperator<T>(a.Op, b.Op),
                2.5 * Ref.Exact(Dense.BlockDiagonal(a.Ref.Value, b.Ref.Value)));
        },
        ["lowrank-7x5-r2"] = rng =>
        {
            var (u, ur) = Dense.Random<T>(rng, 7, 2);
            var (c, cr) = Dense.Random<T>(rng, 2, 2);
            var (v, vr) = Dense.Random<T>(rng, 5, 2);
            var r = Ref.Exact(ur) * Ref.Exact(cr) * Ref.Exact(vr).T();
            return new(new LowRankOperator<T>(u, c, v), r);
        },
        ["lowrank-psd-6-r3"] = rng =>
        {
            var (u, ur) = Dense.Random<T>(rng, 6, 3);
            var (c, cr) = SpdMatrix(rng, 3);
            var r = Ref.Exact(ur) * Ref.Exact(cr) * Ref.Exact(ur).T();
            return new(new LowRankOperator<T>(u, c, u, new Space([2, 3]), new Space([2, 3]), isPositiveSemiDefinite: true), r);
        },
        ["sub-offdiagonal"] = rng =>
        {
            var p = DenseCase(rng, 16, 16, Blocks4, Blocks4);
            int[] rows = [2, 0], cols = [1, 3];
            return new(new SubOperator<T>(p.Op, rows, cols),
                Ref.Exact(Dense.Select(p.Ref.Value, Dense.Indices(Blocks4, rows), Dense.Indices(Blocks4, cols))));
        },
        ["sub-principal"] = rng =>
        {
            var p = Spd(rng, 16, Blocks4);
            int[] blocks = [3, 0];
            return new(p.Op.Restrict(blocks, blocks),
                Ref.Exact(Dense.Select(p.Ref.Value, Dense.Indices(Blocks4, blocks), Dense.Indices(Blocks4, blocks))));
        },
        ["callback-5x3"] = rng => Callback(rng, 5, 3),
        ["callback-transposed"] = rng => { var c = Callback(rng, 5, 3); return new(c.Op.Transpose(), c.Ref.T()); },
        ["callback-gram"] = rng => { var c = Callback(rng, 5, 3); return new(c.Op.Transpose() * c.Op, c.Ref.T() * c.Ref); },
        ["sum-dense-diagonal"] = rng =>
        {
            var a = DenseCase(rng, 6, 6);
            var d = Diagonal(rng, 6, -1, 1, null);
            return new(a.Op + d.Op, a.Ref + d.Ref);
        },
        ["difference-dense-lowrank"] = rng =>
        {
            var a = DenseCase(rng, 7, 5);
            var (u, ur) = Dense.Random<T>(rng, 7, 2);
            var (c, cr) = Dense.Random<T>(rng, 2, 2);
            var (v, vr) = Dense.Random<T>(rng, 5, 2);
            return new(a.Op - new LowRankOperator<T>(u, c, v), a.Ref - Ref.Exact(ur) * Ref.Exact(cr) * Ref.Exact(vr).T());
        },
        ["scaled-dense"] = rng => { var a = DenseCase(rng, 4, 7); return new(T.CreateTruncating(-1.5) * a.Op, -1.5 * a.Ref); },
        ["composed-dense"] = rng =>
        {
            var a = DenseCase(rng, 4, 6);
            var b = DenseCase(rng, 6, 3);
            return new(a.Op * b.Op, a.Ref * b.Ref);
        },
        ["dense-gram"] = rng => { var a = DenseCase(rng, 6, 4); return new(a.Op.Transpose() * a.Op, a.Ref.T() * a.Ref); },
        ["diagonal-plus-identity"] = rng =>
        {
            var d = Diagonal(rng, 5, 0, 1, null);
            return new(d.Op + new IdentityOperator<T>(5), d.Ref + Ref.Exact(Dense.Identity(5)));
        },
    };

    public static OperatorCase<T> DenseCase(Random rng, int rows, int cols, Space? output = null, Space? input = null)
    {
        var (m, r) = Dense.Random<T>(rng, rows, cols);
        return new(new DenseOperator<T>(m, output, input), Ref.Exact(r));
    }

    private static OperatorCase<T> Diagonal(Random rng, int n, double lo, double hi, Space? space)
    {
        var (d, r) = Dense.Random<T>(rng, n, 1, lo, hi);
        var values = Enumerable.Range(0, n).Select(i => r[i, 0]).ToArray();
        return new(new DiagonalOperator<T>(d.Reshape(n), space), Ref.Exact(Dense.Diagonal(values)));
    }

    /// <summary>A symmetric positive definite matrix M Mᵀ / n + I/2, rounded to T (rounding keeps it symmetric).</summary>
    public static (Tensor<T> Tensor, double[,] Values) SpdMatrix(Random rng, int n)
    {
        var (_, m) = Dense.Random<double>(rng, n, n + 2);
        var s = Dense.Add(Dense.Scale(Dense.MatMul(m, Dense.Transpose(m)), 1.0 / n), Dense.Identity(n), 0.5);
        return Dense.Rounded<T>(s);
    }

    private static OperatorCase<T> Spd(Random rng, int n, Space? space)
    {
        var (s, r) = SpdMatrix(rng, n);
        return new(new DenseOperator<T>(s, space, space, isPositiveSemiDefinite: true), Ref.Exact(r));
    }

    public static OperatorCase<T> Kron(Random rng, int p, int q, int r, int s)
    {
        var (a, ar) = Dense.Random<T>(rng, p, q);
        var (b, br) = Dense.Random<T>(rng, r, s);
        return new(new KroneckerOperator<T>(a, b), Ref.Exact(Dense.Kron(ar, br)));
    }

    private static OperatorCase<T> Callback(Random rng, int rows, int cols)
    {
        var (_, m) = Dense.Random<T>(rng, rows, cols);
        return new(new CallbackOperator<T>(m, new Space([rows]), new Space([1], [cols - 1])), Ref.Exact(m));
    }
}
