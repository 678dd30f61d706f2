using CurvNative.Autodiff;
using CurvNative.NN.Modules;
using CurvNative.Tensors;

namespace CurvNative.Benchmarks;

/// <summary>
/// The arithmetic of each curvature product, counted in the multiply-adds of the Linear and Conv2d layers
/// (elementwise work is not counted), so that a target ratio can be compared with what the arithmetic allows.
/// For a layer with m multiply-adds per pass (m = rows x in x out; a convolution's rows are its N Ho Wo
/// output positions and its "in" is C k k), taking the first layer as the one fed by data (no input gradient):
/// <list type="bullet">
/// <item>gradient: forward m, weight gradient m, input gradient m (not for the first layer);</item>
/// <item>Hessian-vector product, forward-over-reverse: the gradient's passes plus the tangent of the forward
///   (first layer m, others 2m) and of the backward (weight gradient: first layer m, others 2m; input
///   gradient 2m): 4m for the first layer, 9m for the others;</item>
/// <item>GGN-vector product: forward, JVP (first layer m, others 2m) and VJP (weight and input gradients):
///   3m for the first layer, 5m for the others;</item>
/// <item>KFAC construction: forward, K backpropagations to the layer outputs (K = 1 for mc; for type-2 the columns
///   of the loss Hessian's factor, C - 1 for cross-entropy;
///   input gradients of all layers but the first), and the SYRKs of A (rows x D(D+1)/2) and G
///   (K rows x O(O+1)/2).</item>
/// </list>
/// </summary>
internal sealed class FlopModel
{
    private sealed record Layer(double Rows, int In, int Out, bool First)
    {
        public double Macs => Rows * In * Out;
    }

    private readonly List<Layer> _layers = [];

    public FlopModel(Module<float> model, Tensor<float> x)
    {
        var layers = new List<(Module<float> M, ForwardHook<float> H)>();
        foreach (var m in model.Modules().Where(m => m is Linear<float> or Conv2d<float>))
        {
            ForwardHook<float> h = (layer, input, output) => _layers.Add(layer switch
            {
                Linear<float> l => new Layer(input.Length / l.InFeatures, l.InFeatures, l.OutFeatures, !input.RequiresGrad),
                Conv2d<float> c => new Layer(output.Length / c.OutChannels, c.InChannels * c.KernelSize * c.KernelSize, c.OutChannels, !input.RequiresGrad),
                _ => throw new InvalidOperationException(),
            });
            m.ForwardHooks += h;
            layers.Add((m, h));
        }
        try { model.Forward(Var<float>.Constant(x)); }
        finally { foreach (var (m, h) in layers) m.ForwardHooks -= h; }
    }

    private double Sum(Func<Layer, double> f) => _layers.Sum(f);

    public double Gradient => 2 * Sum(l => l.Macs * (l.First ? 2 : 3));
    public double HessianVector => 2 * Sum(l => l.Macs * (l.First ? 4 : 9));
    public double GgnVector => 2 * Sum(l => l.Macs * (l.First ? 3 : 5));

    /// <summary>KFAC construction with <paramref name="columns"/> backpropagated vectors per sample.</summary>
    public double KfacConstruction(int columns) => 2 * Sum(l =>
        l.Macs + (l.First ? 0 : columns * l.Macs)
        + l.Rows * l.In * (l.In + 1) / 2.0 + columns * l.Rows * l.Out * (l.Out + 1) / 2.0);
}
