using System.Numerics;
using CurvNative.Autodiff;
using CurvNative.NN.Data;
using CurvNative.NN.Modules;
using CurvNative.Tensors;

namespace CurvNative.Operators.Curvature;

/// <summary>
/// The Jacobian J = d f / d theta of the model outputs over the whole data set (rows: samples in
/// data order, then output elements row-major; output space one block [N, *output]) with respect
/// to the parameters. J v is a forward-mode JVP per batch and column.
/// </summary>
public sealed class JacobianOperator<T> : LinearOperator<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly JacobianCore<T> _core;

    public JacobianOperator(Module<T> model, DataSet<T> data, CurvatureOptions? options = null)
        : this(new JacobianCore<T>(model, data, options)) { }

    private JacobianOperator(JacobianCore<T> core) : base(core.OutputSpace, core.ParameterSpace) => _core = core;

    internal static JacobianOperator<T> FromCore(JacobianCore<T> core) => new(core);

    public IReadOnlyList<Parameter<T>> Parameters => _core.Parameters;

    protected override Tensor<T> MatMatCore(Tensor<T> x) => _core.Jv(x);

    protected override LinearOperator<T> TransposeCore() => JacobianTransposeOperator<T>.FromCore(_core);
}

/// <summary>J^T: maps vectors over all model outputs to parameter space by a VJP per batch and column.</summary>
public sealed class JacobianTransposeOperator<T> : LinearOperator<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly JacobianCore<T> _core;

    public JacobianTransposeOperator(Module<T> model, DataSet<T> data, CurvatureOptions? options = null)
        : this(new JacobianCore<T>(model, data, options)) { }

    private JacobianTransposeOperator(JacobianCore<T> core) : base(core.ParameterSpace, core.OutputSpace) => _core = core;

    internal static JacobianTransposeOperator<T> FromCore(JacobianCore<T> core) => new(core);

    protected override Tensor<T> MatMatCore(Tensor<T> x) => _core.JTu(x);

    protected override LinearOperator<T> TransposeCore() => JacobianOperator<T>.FromCore(_core);
}

/// <summary>Shared state and products of the Jacobian and its transpose.</summary>
internal sealed class JacobianCore<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public JacobianCore(Module<T> model, DataSet<T> data, CurvatureOptions? options)
    {
        Options = options ?? new CurvatureOptions();
        if (Options.BatchSize is < 1) throw new ArgumentOutOfRangeException(nameof(options), $"Batch size must be positive, got {Options.BatchSize}.");
        Model = model; Data = data;
        var all = ParameterSelection.Select(model, Options.ParameterNames);
        Parameters = all;
        ParameterSpace = Space.FromParameters(all);
        // One forward pass on a single sample fixes the per-sample output shape.
        int[] outShape;
        using (GradMode.Disable()) outShape = model.Forward(Var<T>.Constant(data.X.Slice0(0, Math.Min(1, data.Count)))).Value.ShapeArray[1..];
        OutputsPerSample = Shape.Size(outShape);
        OutputSpace = new Space([[data.Count, .. outShape]]);
    }

    public Module<T> Model { get; }
    public DataSet<T> Data { get; }
    public CurvatureOptions Options { get; }
    public IReadOnlyList<Parameter<T>> Parameters { get; }
    public Space ParameterSpace { get; }
    public Space OutputSpace { get; }
    public int OutputsPerSample { get; }

    private List<Var<T>> Leaves => Parameters.Select(p => p.Var).ToList();

    public Tensor<T> Jv(Tensor<T> x)
    {
        int k = x.Shape[1], c = OutputsPerSample;
        var y = Tensor<T>.Zeros(Data.Count * c, k);
        var columns = Enumerable.Range(0, k).Select(col => ParameterSpace.Split(Column(x, col)).Select(Var<T>.Constant).ToArray()).ToArray();
        int start = 0;
        foreach (var batch in Data.Batches(Options.BatchSize))
        {
            var f = Model.Forward(Var<T>.Constant(batch.X));
            for (int col = 0; col < k; col++)
            {
                var jv = Autograd.Jvp(f, Leaves, columns[col]).Value.Span;
                for (int i = 0; i < jv.Length; i++) y.Span[(start * c + i) * k + col] = jv[i];
            }
            start += batch.Count;
        }
        return y;
    }

    public Tensor<T> JTu(Tensor<T> u)
    {
        int k = u.Shape[1], c = OutputsPerSample;
        var y = Tensor<T>.Zeros(ParameterSpace.Dimension, k);
        int start = 0;
        foreach (var batch in Data.Batches(Options.BatchSize))
        {
            var f = Model.Forward(Var<T>.Constant(batch.X));
            for (int col = 0; col < k; col++)
            {
                var seed = Tensor<T>.Zeros(f.Value.ShapeArray);
                for (int i = 0; i < seed.Length; i++) seed.Span[i] = u.Span[(start * c + i) * k + col];
                var g = ParameterSpace.Join(Autograd.Grad(f, Leaves, Var<T>.Constant(seed)).Select(v => v.Value).ToList());
                for (int i = 0; i < g.Length; i++) y.Span[i * k + col] += g.Span[i];
            }
            start += batch.Count;
        }
        return y;
    }

    private static Tensor<T> Column(Tensor<T> x, int col)
    {
        int rows = x.Shape[0], k = x.Shape[1];
        var v = Tensor<T>.Zeros(rows);
        for (int i = 0; i < rows; i++) v.Span[i] = x.Span[i * k + col];
        return v;
    }
}
