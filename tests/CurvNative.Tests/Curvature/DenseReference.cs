using CurvNative.Autodiff;
using CurvNative.NN.Data;
using CurvNative.NN.Losses;
using CurvNative.NN.Modules;
using CurvNative.Tensors;
using Xunit;

namespace CurvNative.Tests.Curvature;

/// <summary>A small (model, loss, data) problem in float64 and independent dense references of
/// its curvature: everything on the whole data set in one batch, Jacobians by one VJP per output
/// element, the loss Hessian by differentiating the loss gradient with respect to the outputs.</summary>
public sealed class Problem
{
    public required Module<double> Model { get; init; }
    public required Loss<double> Loss { get; init; }
    public required DataSet<double> Data { get; init; }
    public required string Name { get; init; }

    public List<Parameter<double>> Parameters => Model.Parameters().ToList();
    public int P => Parameters.Sum(p => p.Length);

    public static Problem Create(string model, string loss, Reduction reduction, int n = 7, int seed = 1)
    {
        var rng = new Random(seed);
        Module<double> m = model switch
        {
            "mlp" => new Sequential<double>(new Linear<double>("0", 4, 5, rng: rng), new Tanh<double>(), new Linear<double>("2", 5, 3, rng: rng)),
            "cnn" => new Sequential<double>(new Conv2d<double>("0", 2, 3, 3, 1, 1, rng: rng), new Tanh<double>(), new MaxPool2d<double>(2),
                new Flatten<double>(), new Linear<double>("4", 12, 3, rng: rng)),
            "deep-linear" => new Sequential<double>(new Linear<double>("0", 4, 5, rng: rng), new Linear<double>("1", 5, 4, rng: rng), new Linear<double>("2", 4, 3, rng: rng)),
            _ => throw new ArgumentException(model),
        };
        int[] inShape = model == "cnn" ? [n, 2, 4, 5] : [n, 4];
        var x = Rand(rng, inShape);
        Targets<double> y = loss switch
        {
            "ce" => Targets<double>.FromClasses(Enumerable.Range(0, n).Select(_ => rng.Next(3)).ToArray()),
            "mse" => Targets<double>.FromValues(Rand(rng, [n, 3])),
            _ => Targets<double>.FromValues(Tensor<double>.FromArray(Enumerable.Range(0, 3 * n).Select(_ => rng.NextDouble()).ToArray(), n, 3)),
        };
        Loss<double> l = loss switch
        {
            "ce" => new CrossEntropyLoss<double>(reduction),
            "mse" => new MSELoss<double>(reduction),
            _ => new BCEWithLogitsLoss<double>(reduction),
        };
        return new Problem { Model = m, Loss = l, Data = new DataSet<double>(x, y), Name = $"{model}/{loss}/{reduction}" };
    }

    public static Tensor<double> Rand(Random rng, int[] shape)
    {
        var t = Tensor<double>.Zeros(shape);
        for (int i = 0; i < t.Length; i++) t.Span[i] = 2 * rng.NextDouble() - 1;
        return t;
    }

    private List<Var<double>> Leaves(IEnumerable<Parameter<double>>? subset = null) => (subset ?? Parameters).Select(p => p.Var).ToList();

    private static Tensor<double> Flat(IEnumerable<Var<double>> blocks) => ParameterVector.Flatten(blocks);

    /// <summary>Dense Hessian of the total loss: each column is the gradient of &lt;gradient, e_j&gt;.</summary>
    public Tensor<double> Hessian()
    {
        var leaves = Leaves();
        var loss = Loss.Forward(Model.Forward(Var<double>.Constant(Data.X)), Data.Y);
        var g = Autograd.Grad(loss, leaves, createGraph: true);
        var h = Tensor<double>.Zeros(P, P);
        int offset = 0;
        for (int b = 0; b < g.Length; b++)
            for (int j = 0; j < g[b].Length; j++, offset++)
            {
                var col = Flat(Autograd.Grad(F.GatherFlat(g[b], [j], []), leaves));
                for (int i = 0; i < P; i++) h[i, offset] = col.Span[i];
            }
        return h;
    }

    /// <summary>Dense Jacobian [N C, P] of the outputs by one VJP per output element.</summary>
    public Tensor<double> Jacobian()
    {
        var f = Model.Forward(Var<double>.Constant(Data.X));
        var j = Tensor<double>.Zeros(f.Length, P);
        for (int i = 0; i < f.Length; i++)
        {
            var row = Flat(Autograd.Grad(F.GatherFlat(f, [i], []), Leaves()));
            row.Span.CopyTo(j.Span.Slice(i * P, P));
        }
        return j;
    }

    /// <summary>d^2 L / d f^2 [N C, N C] by differentiating the loss gradient with respect to the outputs.</summary>
    public Tensor<double> OutputHessian()
    {
        var f = Var<double>.Leaf(Model.Forward(Var<double>.Constant(Data.X)).Value);
        var g = Autograd.Grad(Loss.Forward(f, Data.Y), [f], createGraph: true)[0];
        var h = Tensor<double>.Zeros(f.Length, f.Length);
        for (int j = 0; j < f.Length; j++)
        {
            var col = Autograd.Grad(F.GatherFlat(g, [j], []), [f])[0].Value;
            for (int i = 0; i < f.Length; i++) h[i, j] = col.Span[i];
        }
        return h;
    }

    public Tensor<double> Ggn()
    {
        var j = Jacobian();
        return MatMul(MatMul(j, OutputHessian(), true, false), j, false, false);
    }

    /// <summary>c sum_n g_n g_n^T with g_n from a backward pass of sample n's summed loss alone.</summary>
    public Tensor<double> EmpiricalFisher()
    {
        int n = Data.Count, c = Model.Forward(Var<double>.Constant(Data.X.Slice0(0, 1))).Length;
        double scale = Loss.ReductionFactor(n, c);
        Loss<double> sum = Loss switch
        {
            CrossEntropyLoss<double> => new CrossEntropyLoss<double>(Reduction.Sum),
            MSELoss<double> => new MSELoss<double>(Reduction.Sum),
            _ => new BCEWithLogitsLoss<double>(Reduction.Sum),
        };
        var ef = Tensor<double>.Zeros(P, P);
        foreach (var sample in Data.Batches(1))
        {
            var g = Flat(Autograd.Grad(sum.Forward(Model.Forward(Var<double>.Constant(sample.X)), sample.Y), Leaves()));
            for (int a = 0; a < P; a++)
                for (int b = 0; b < P; b++) ef[a, b] += scale * g.Span[a] * g.Span[b];
        }
        return ef;
    }

    public static Tensor<double> MatMul(Tensor<double> a, Tensor<double> b, bool ta, bool tb) => TensorOps.MatMul(a, b, ta, tb);

    /// <summary>Rows and columns of a dense matrix at the flat indices of the given parameters.</summary>
    public Tensor<double> Slice(Tensor<double> dense, IReadOnlyList<string> names)
    {
        var idx = new List<int>();
        int offset = 0;
        foreach (var p in Parameters)
        {
            if (names.Contains(p.Name)) idx.AddRange(Enumerable.Range(offset, p.Length));
            offset += p.Length;
        }
        var r = Tensor<double>.Zeros(idx.Count, idx.Count);
        for (int i = 0; i < idx.Count; i++)
            for (int j = 0; j < idx.Count; j++) r[i, j] = dense[idx[i], idx[j]];
        return r;
    }

    /// <summary>The dense matrix with every entry outside the diagonal blocks of the given groups zeroed.</summary>
    public Tensor<double> BlockDiagonal(Tensor<double> dense, IEnumerable<string[]> groups)
    {
        var offsets = new Dictionary<string, (int Start, int Length)>();
        int offset = 0;
        foreach (var p in Parameters) { offsets[p.Name] = (offset, p.Length); offset += p.Length; }
        var r = Tensor<double>.Zeros(dense.ShapeArray);
        foreach (var group in groups)
        {
            var idx = group.SelectMany(n => Enumerable.Range(offsets[n].Start, offsets[n].Length)).ToList();
            foreach (var i in idx) foreach (var j in idx) r[i, j] = dense[i, j];
        }
        return r;
    }

    public static double RelativeError(Tensor<double> expected, Tensor<double> actual)
    {
        Shape.CheckEqual(expected.Shape, actual.Shape, "dense comparison");
        double diff = 0, norm = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            diff += Math.Pow(expected.Span[i] - actual.Span[i], 2);
            norm += Math.Pow(expected.Span[i], 2);
        }
        return Math.Sqrt(diff / Math.Max(norm, 1e-300));
    }

    public static void AssertRelative(Tensor<double> expected, Tensor<double> actual, double tol, string what)
    {
        double err = RelativeError(expected, actual);
        Assert.True(err < tol, $"{what}: relative error {err:E2} (tolerance {tol:E0})");
    }
}
